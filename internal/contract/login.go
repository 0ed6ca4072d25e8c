package contract

// LoginProofHeader is the NATS header of a fetch request with AuthUser
// that proves the login component sent it: a keyed hash of the subject
// and body under the login's secret, which never leaves the workers. A
// worker refuses a request with AuthUser without a valid one, so knowing
// a login's reference (its "session", shown in events) is not enough to
// fetch with it. No event or log copies this header.
const LoginProofHeader = "Skattekonto-Login-Proof"
