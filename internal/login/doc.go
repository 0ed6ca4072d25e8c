// Package login lets a person fetch tax accounts with their own login
// (Skatteverket's authorization code flow with BankID) instead of the
// organisation certificate: a small server-rendered page, in Swedish by
// default, starts the login (PKCE S256, a state bound to a browser
// cookie), exchanges the code with golang.org/x/oauth2, and keeps the
// login while it lives — refreshing its token (rotated refresh tokens),
// publishing fetch requests with "auth": "user" for its accounts on a
// cadence, and showing the events that answer them. A refused refresh
// ends the login, which is logged, shown on the page and reported through
// Config.OnEnd.
//
// A Manager runs on every replica. With Config.TokenKey the replicas
// share the logins through the NATS KV bucket SKATTEKONTO_LOGIN, each
// sealed with AES-GCM: any replica serves a login's fetch requests, one
// owns it (a lease renewed by compare-and-set, taken over when its owner
// dies) and runs its cadence, and the refresh token is spent under a
// compare-and-set claim, so that two replicas never both spend it.
// Without the key logins live in one process's memory, for one replica.
//
// A login is named by a public reference; its fetch requests are signed
// with its secret (contract.LoginProofHeader), and Check refuses any
// request that was not, so the reference in events and logs is no use to
// act on the login. Tokens and secrets never reach a log, an event or the
// page.
//
// The page answers only the client networks and forward-auth users
// Config allows, limits login starts per client, and is served on a
// listener of its own (NewServer). *Manager implements jobs.Sessions.
package login
