// Package ratelimit paces calls to Skatteverket's API across every replica
// of the worker, so that the deployment as a whole stays under the calls per
// second granted to its one API consumer.
//
// Replicas coordinate over NATS, which they already share, with two core
// NATS subjects under a prefix (default "skattekonto.ratelimit"):
//
//   - <prefix>.presence: every replica publishes its random id (16
//     lowercase hex digits) when it starts, again half a heartbeat later,
//     then once per Heartbeat, and subscribes to the same subject. A
//     replica that hears an id it does not know answers at once with its
//     own (a few answers per heartbeat at most), so a newcomer learns of
//     the others within a round trip. A peer unheard for three heartbeats
//     is gone; Close says goodbye explicitly.
//   - <prefix>.throttle: a replica that gets 429 Too Many Requests
//     publishes it here, so that every replica slows down, not only the
//     one that was unlucky enough to be answered 429.
//
// The rate of a replica is its fair share, Rate divided by the number of
// live replicas, times a throttle factor that follows AIMD (additive
// increase, multiplicative decrease): a 429 (local or from a peer) halves
// the factor, never below 1/20, and pauses every call until Retry-After
// has passed; then the factor climbs back linearly to 1 over RecoverAfter.
// A replica applies at most one cut per max(Retry-After, 1s) window, so
// that N replicas hitting 429 at the same moment cut once, not N times.
//
// With Rate 0 (no limit) a Limiter only counts replicas: it announces
// itself and hears the others on the presence subject, so that Peers
// still tells the fetch partitions how many replicas share them, but Wait
// never waits and no throttle is sent or heard.
//
// # What a replica believes
//
// Any client allowed on the subjects can publish on them, so a message is
// believed only as far as a replica would send it:
//
//   - An id counts as a peer once it has been heard twice, at least a
//     quarter heartbeat apart, within three heartbeats: an id heard once,
//     or twice back to back, or not shaped like a replica id, is not a
//     peer. At most MaxPeers replicas (default 64, this one included) are
//     counted, so the share never drops below Rate/MaxPeers.
//   - A throttle message is applied only when it names a peer, and a
//     pause, asked for by a peer or by the API's Retry-After, lasts at
//     most MaxPause (default 1m).
//   - Peer changes and throttles from peers are logged a few lines at
//     once, then one per 10s of each kind, with the number held back.
//
// None of this stops a client that heartbeats like a replica: give the
// subjects to the workers' NATS user alone (publish and subscribe
// permissions) where other clients share the server.
//
// Joins are made safe by erring low: a replica in its first three
// heartbeats counts every id it has heard and one more, and makes no call
// before its second announcement, which makes the others count it; a
// replica lowers its share as soon as it counts a new peer. Waiting calls
// give back their reserved slot and reserve again whenever the peer set
// changes or a pause begins.
//
// Every Wait ends: with the caller's context, or with ErrWaitTimeout after
// MaxWait (default 2m), so a call never waits longer than that for a slot
// however long the pause or the queue.
//
// Wait never touches NATS. Without a connection the peer set is frozen
// (nobody expires) and the limiter keeps the last known share; after a
// reconnect every known peer gets three fresh heartbeats to show up.
//
// Each replica paces with one goroutine that hands out a permit per
// 1/share, at the share in force, so the sum of the replicas' rates stays
// at or under Rate; bursts (Burst per replica) and network delay at a
// join are the only slack.
package ratelimit
