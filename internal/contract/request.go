package contract

// MaxFetchRequestSize is the largest fetch request body accepted (64 KiB).
const MaxFetchRequestSize = 64 << 10

// MaxWatchRequestSize is the largest watch-list request body accepted.
const MaxWatchRequestSize = 64 << 10

// MaxSIERequestSize is the largest SIE export request body accepted.
const MaxSIERequestSize = 4 << 10

// Credentials a fetch request can name in its "auth" field.
const (
	// AuthOrganisation is the default: client credentials with the
	// organisation certificate.
	AuthOrganisation = "organisation"
	// AuthUser serves the request with a person's login session, named
	// by the request's "session".
	AuthUser = "user"
)

// FetchRequest is the JSON body of a message on FetchSubject. Every field
// may be left out (an empty body asks for everything); a nil pointer is a
// field left out, which the worker tells apart from one given empty.
// Build one with new: FetchRequest{Auth: new(AuthUser)}.
type FetchRequest struct {
	// Omfragad, when given, must name the subject's account.
	Omfragad *string `json:"omfragad,omitempty"`
	// Operations to call (see Operations); all four when left out.
	Operations *[]string `json:"operations,omitempty"`
	// DatumFrom is the first date (YYYY-MM-DD) of transactions asked for.
	DatumFrom *string `json:"datumFrom,omitempty"`
	// RequestID is echoed in the answer.
	RequestID *string `json:"requestId,omitempty"`
	// Force turns off call-saving shortcuts.
	Force *bool `json:"force,omitempty"`
	// Auth is AuthOrganisation or AuthUser.
	Auth *string `json:"auth,omitempty"`
	// Session names the login session of a request with AuthUser.
	Session *string `json:"session,omitempty"`
}
