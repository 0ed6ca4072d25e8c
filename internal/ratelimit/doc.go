// Package ratelimit paces calls to Skatteverket's API across every replica
// of the worker, so that the deployment as a whole stays under the calls per
// second granted to its one API consumer.
//
// Replicas coordinate over NATS, which they already share, with two core
// NATS subjects under a prefix (default "skattekonto.ratelimit"):
//
//   - <prefix>.presence: every replica publishes its random id when it
//     starts, then once per Heartbeat, and subscribes to the same subject.
//     A replica that hears an id it does not know answers at once with its
//     own, so a newcomer learns of the others within a round trip. A peer
//     unheard for three heartbeats is gone; Close says goodbye explicitly.
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
// Joins are made safe by erring low: a replica in its first heartbeat
// interval assumes one more replica than it knows of, and a replica that
// hears of a new peer lowers its share at once. Waiting calls give back
// their reserved slot and reserve again whenever the peer set changes or
// a pause begins.
//
// Wait never touches NATS. Without a connection the peer set is frozen
// (nobody expires) and the limiter keeps the last known share; after a
// reconnect every known peer gets three fresh heartbeats to show up.
//
// Each replica paces with a golang.org/x/time/rate Limiter whose limit is
// updated with SetLimit, so the sum of the replicas' rates stays at or
// under Rate; bursts (Burst per replica) and the moment of a join are the
// only slack.
package ratelimit
