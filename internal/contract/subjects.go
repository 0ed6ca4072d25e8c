package contract

// Subject prefixes. Each ends in a dot; the account's canonical
// identity number (omfragad) follows.
const (
	// FetchPrefix starts fetch requests: skattekonto.fetch.<omfragad>.
	FetchPrefix = "skattekonto.fetch."
	// EventsPrefix starts events: skattekonto.events.<subject>.<Type>,
	// where subject is an omfragad, InvalidToken or ServiceToken.
	EventsPrefix = "skattekonto.events."
	// StatePrefix starts the accounts' stored states:
	// skattekonto.state.<omfragad>.
	StatePrefix = "skattekonto.state."
	// SchedulePrefix starts the watch list's message schedules:
	// skattekonto.schedule.<omfragad>.<name>.
	SchedulePrefix = "skattekonto.schedule."
	// WatchPrefix starts the watch list's requests: WatchRegister,
	// WatchUnregister and WatchList.
	WatchPrefix = "skattekonto.watch."
)

// Watch-list request subjects and the queue group whose members answer
// them, one replica per request.
const (
	WatchRegister   = WatchPrefix + "register"
	WatchUnregister = WatchPrefix + "unregister"
	WatchList       = WatchPrefix + "list"
	WatchQueueGroup = "skattekonto-watch"
)

// SIE export request subject and the queue group whose members answer
// it, one replica per request: a program asks for an account's booking
// proposals as a SIE 4 import file (see package sie).
const (
	SIEExport     = "skattekonto.sie.export"
	SIEQueueGroup = "skattekonto-sie"
)

// RateLimitPrefix is the default prefix of the rate limiter's subjects
// (<prefix>.presence and <prefix>.throttle); a deployment may choose
// another. It has no trailing dot.
const RateLimitPrefix = "skattekonto.ratelimit"

// Subject tokens that stand where an omfragad would.
const (
	// InvalidToken is the subject token of events answering requests
	// whose account could not be told.
	InvalidToken = "invalid"
	// ServiceToken is the subject token of deployment-wide events.
	ServiceToken = "service"
)

// FetchSubject is the subject of a fetch request for acct (an omfragad).
func FetchSubject(acct string) string { return FetchPrefix + acct }

// EventSubject is the subject of an event of type typ (without TypePrefix)
// about acct (an omfragad, InvalidToken or ServiceToken).
func EventSubject(acct, typ string) string { return EventsPrefix + acct + "." + typ }

// AccountEvents is the subject filter of every event about acct.
func AccountEvents(acct string) string { return EventsPrefix + acct + ".>" }

// AllEvents is the subject filter of every event.
const AllEvents = EventsPrefix + ">"

// StateSubject is the subject of acct's stored state.
func StateSubject(acct string) string { return StatePrefix + acct }

// ScheduleSubject is the subject of acct's message schedule called name.
func ScheduleSubject(acct, name string) string { return SchedulePrefix + acct + "." + name }

// AccountSchedules is the subject filter of all of acct's schedules.
func AccountSchedules(acct string) string { return SchedulePrefix + acct + ".>" }

// CloudEvents attributes every event carries.
const (
	// TypePrefix starts every event's type: skattekonto.<Type>.
	TypePrefix = "skattekonto."
	// Source is every event's source.
	Source = "skattekonto-events"
)

// EventType is the CloudEvents type of the catalogue's event typ.
func EventType(typ string) string { return TypePrefix + typ }

// Names of the connection and durable consumer the workers share.
const (
	// Durable names the workers' pull consumers on FetchStream: partition
	// p's is Durable-p (PartitionConsumer); Durable itself is the one
	// consumer of the streams made before partitions (the legacy consumer).
	Durable = "skattekonto-worker"
	// ConnectionName is the name a worker's NATS connection carries.
	ConnectionName = "skattekonto-worker"
)

// LoginBucket is the NATS KV bucket that holds the users' sealed login
// tokens.
const LoginBucket = "SKATTEKONTO_LOGIN"
