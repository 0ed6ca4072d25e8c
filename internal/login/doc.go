// Package login lets a person fetch tax accounts with their own login
// (Skatteverket's authorization code flow with BankID) instead of the
// organisation certificate: a small server-rendered page starts the login
// (PKCE S256, a state bound to a browser cookie), exchanges the code with
// golang.org/x/oauth2, and keeps the login while it lives — refreshing its
// token (rotated refresh tokens), publishing fetch requests with
// "auth": "user" for its accounts on a cadence, and showing the events
// that answer them. A refused refresh ends the login, which is logged,
// shown on the page and reported through Config.OnEnd.
//
// Tokens never leave the process unencrypted and never reach a log, an
// event or the page: with Config.TokenKey they are sealed with AES-GCM
// into the NATS KV bucket SKATTEKONTO_LOGIN for their refresh token's
// remaining life; without it they live in memory only.
//
// *Login implements jobs.Sessions: the worker calls the API of a session
// through SessionAPI.
package login
