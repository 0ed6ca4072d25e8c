// Package sim simulates Skatteverket's "Skattekonto via API" v2 and its
// OAuth2 client-credentials token endpoint, for ERP developers waiting
// for sandbox keys and for this project's worker and tests.
//
// It is an independent implementation of the wire format (it does not
// share types with the client in internal/skv) and checks what the real
// API checks: a bearer token issued by the simulator and not expired,
// the client_id and client_secret gateway headers, a correlation id
// header (SKV-client_correlationid or skv_client_correlation_id, at most
// 36 characters), the token's scope, the rate limit, the identity
// number's form, century digits and check digit, dates, and account state
// (felkod 1–6).
//
// Identity numbers in the path: 12 digits, where the century digits are
// 16 for a legal person (whose 10-digit number has a third digit of 2 or
// more) and 19 or 20 for a person (followed by a valid date; day + 60 for
// a samordningsnummer); or, for non-persons, the 10-digit form
// NNNNNNNNNN, which addresses the same account as 16NNNNNNNNNN. Anything
// else answers felkod 1. Accounts are stored and administered under the
// 12-digit form.
//
// # Serving
//
// Handler serves:
//
//	GET  /beskattning/skattekonto/v2/skattekonton/{omfragad}/saldo[?datum=YYYY-MM-DD]
//	GET  /beskattning/skattekonto/v2/skattekonton/{omfragad}/transaktioner[?datumFrom=YYYY-MM-DD]
//	GET  /beskattning/skattekonto/v2/skattekonton/{omfragad}/utbetalningskonto
//	GET  /beskattning/skattekonto/v2/skattekonton/{omfragad}/utbetalningssparrar
//	     (each operation's path below the prefix is a setting: SetPath,
//	     the admin settings or skvsim -path; a path no operation is
//	     served under answers 404 {"error":"No resource found"}, no felkod)
//	POST /oauth2/v1/sysorg/token            grant_type=client_credentials[&scope=ska]
//	GET  /oauth2/v1/per/authorize           the person flow's login page (authorization code, PKCE S256 required)
//	POST /oauth2/v1/per/authorize           the login form: redirects back with code and state
//	POST /oauth2/v1/per/token               grant_type=authorization_code or refresh_token
//	     /admin/...                         the admin API below
//
// The person flow (acg.go) has no BankID: its login page picks one of
// Config.Persons and the accounts that person may see. A person's access
// token answers felkod 6 for any other account. Refresh tokens are rotated
// on use, live Config.UserRefreshTTL (65 minutes) and allow
// Config.UserMaxRefreshes (10) refreshes per login.
//
// Mutual TLS is a property of the listener: serve Handler with
// Certs.ServerTLSConfig (see GenerateCerts) to require client certificates.
// cmd/skvsim does so by default.
//
// With Config.KeysOnly the simulator plays Skatteverket's simple test
// service ("enkel testtjänst"): API calls need the client_id and
// client_secret headers and a correlation id, and no bearer token.
//
// nastaAvstamningsdatum is the next monthly reconciliation on the
// simulator's clock: the first Saturday of this month, or of next month
// once that has passed; a date set on the account holds until it passes.
//
// The nightly service window (03:00–05:00 Swedish time) can be simulated
// (ServiceWindow: mode off, clock or on). The service description says
// only that the service is closed then, not how it answers; by default a
// call in the window answers felkod 5 (HTTP 503), or as set a gateway
// 503 without felkod, felkod 4 or no answer at all (hang). The token
// endpoint stays open.
//
// Gateway answers (no felkod) are {"error":"…"}: 401 for a missing,
// unknown ("Token has been revoked.") or expired token (with
// WWW-Authenticate: Bearer) and for wrong client_id/client_secret
// headers, 403 "The required scopes are not authorized", 400 for a
// missing or over-long correlation id, 429 with Retry-After, 405 for
// methods other than GET. felkod answers are
// {"felkod":N,"felmeddelande":"…"} with the HTTP status of the
// service description.
//
// # Admin API
//
// JSON in and out, no authentication (bind the simulator to loopback).
// POST and PUT require Content-Type: application/json, bodiless ones too
// (415 otherwise), so that a web page cannot drive the simulator with a
// cross-site form or text/plain request:
//
//	curl -X PUT -H 'Content-Type: application/json' \
//	  localhost:8090/admin/accounts/165781006662/balance \
//	  -d '{"saldoSkatteverket":-100,"saldoKronofogden":0}'
//
// Bad input answers 400 and an unknown account, upcoming index or block
// 404, both as {"error":"…"}. Unknown JSON fields are errors. Mutations
// of an account answer 200 with the account as GET returns it.
//
//	GET    /admin/accounts                              all accounts, by omfragad
//	GET    /admin/accounts/{omfragad}                   one Account
//	PUT    /admin/accounts/{omfragad}                   create or replace; body: Account
//	POST   /admin/accounts/{omfragad}/transactions      book a row; body: Transaction
//	POST   /admin/accounts/{omfragad}/upcoming          add an upcoming row; body: Transaction
//	PUT    /admin/accounts/{omfragad}/upcoming/{i}      change upcoming row i (a new decision); body: Transaction
//	POST   /admin/accounts/{omfragad}/upcoming/{i}/book book upcoming row i; body (optional): {"date":"YYYY-MM-DD"}
//	DELETE /admin/accounts/{omfragad}/upcoming/{i}      withdraw upcoming row i
//	PUT    /admin/accounts/{omfragad}/balance           {"saldoSkatteverket":N,"saldoKronofogden":N}
//	PUT    /admin/accounts/{omfragad}/interest          {"rantaSkatteverket":N,"rantaKronofogden":N}
//	PUT    /admin/accounts/{omfragad}/payout-account    {"utbetalningskonto":"…"} or {"utbetalningskonto":null}
//	POST   /admin/accounts/{omfragad}/blocks            body: Block (sparridentitet 0 or absent: assigned)
//	DELETE /admin/accounts/{omfragad}/blocks/{id}       remove the block with that sparridentitet
//	POST   /admin/accounts/{omfragad}/close             the account answers felkod 5 from now on
//	POST   /admin/accounts/{omfragad}/grant/revoke      the agent authorisation is revoked: felkod 6 from now on
//	POST   /admin/accounts/{omfragad}/grant/restore     the agent authorisation is granted again
//	GET    /admin/faults                                active faults
//	POST   /admin/faults                                inject; body: Fault, e.g. {"kind":"http503","operation":"saldo","count":2}
//	DELETE /admin/faults                                clear all faults
//	GET    /admin/calls                                 {"calls":{"saldo":N,…},"correlationIds":[…]}
//	DELETE /admin/calls                                 reset counters and correlation ids
//	GET    /admin/changes[?since=SEQ]                   the change log, entries with seq > SEQ
//	POST   /admin/scenario                              load a scenario (body: scenario JSON)
//	POST   /admin/tokens/revoke                         revoke every issued token (204)
//	GET    /admin/settings                              {"paths":{…},"quietUpcoming":false,"serviceWindow":{"mode":"off",…}}
//	PUT    /admin/settings                              change some settings; body: a part of the above,
//	                                                    e.g. {"paths":{"utbetalningssparrar":"/skattekonton/{omfragad}/sparrar"}}
//	                                                    ("" restores an operation's path), {"quietUpcoming":true},
//	                                                    {"serviceWindow":{"mode":"clock","kind":"http503"}}
//
// quietUpcoming makes adding, changing and withdrawing upcoming rows
// leave senastUppdaterad as it was: the service description does not
// promise that a new decision on an upcoming row moves it.
//
// Account JSON uses the API's field names: omfragad, saldoSkatteverket,
// saldoKronofogden, rantaSkatteverket, rantaKronofogden, ocrNummer
// (default: OCR(omfragad)), nastaAvstamningsdatum (default: the next
// reconciliation, see above), utbetalningskonto, tidigareTransaktioner,
// kommandeTransaktioner, utbetalningssparrar, informationstext, and the
// switches closed (felkod 5), unauthorized (felkod 6) and noIdentities
// (no transaktionsidentitet, like older API versions). senastUppdaterad
// is set by the simulator on every mutation.
//
// Fault JSON: {"omfragad":"…","operation":"saldo","kind":"felkod",
// "felkod":4,"count":3,"retryAfter":"2s","latency":"1.5s"}; durations are
// Go duration strings or numbers of seconds; count <= 0 or absent keeps
// the fault until cleared. Kinds: felkod, http429, http503, http502,
// latency, hang, truncated, nonjson, token-refused, scope-missing, and
// answers that drift from the description: extra-field (the answer gains
// "field", valued "simulerat"), drop-field (it loses "field") and
// rename-field (its top-level "field" is called "to"); "field" is a
// top-level key or "list[].key" for a key of every element of a list:
// {"kind":"drop-field","operation":"transaktioner","field":"tidigareTransaktioner[].transaktionstext"}.
//
// # Scenarios
//
// A scenario file is JSON (YAML is not supported):
//
//	{
//	  "accounts": [ {Account}, … ],
//	  "generate": [ {"omfragad":"165781006662","seed":1,"transactions":40} ],
//	  "steps": [
//	    {"after":"10s","omfragad":"165781006662","action":"post-transaction",
//	     "transaction":{"transaktionstext":"Inbetalning bokförd 261012","beloppSkatteverket":5000}},
//	    {"after":"20s","omfragad":"165781006662","action":"book-upcoming","index":0,"date":"2026-10-12"},
//	    {"after":"30s","action":"inject-fault","fault":{"kind":"http503","count":1}}
//	  ]
//	}
//
// Actions and the step fields they read: put-account (account),
// post-transaction and add-upcoming (omfragad, transaction),
// book-upcoming (omfragad, index, date), change-upcoming (omfragad,
// index, transaction), withdraw-upcoming (omfragad, index), set-balance (omfragad, saldoSkatteverket, saldoKronofogden),
// set-interest (omfragad, rantaSkatteverket, rantaKronofogden),
// set-payout-account (omfragad, utbetalningskonto; absent or null
// removes it), add-block (omfragad, block), remove-block (omfragad,
// sparridentitet), close-account (omfragad), inject-fault (fault),
// clear-faults. "after" is a Go duration from load time on the wall
// clock (not Config.Now); empty or "0s" runs the step while loading.
//
// Every mutation — from Go, the admin API or a scenario — sets the
// account's senastUppdaterad to Config.Now in Swedish local time (except
// upcoming-row changes while quietUpcoming is on) and appends a Change
// whose Kind is the action name.
package sim
