// Package contract holds the names and shapes of skattekonto-events' public
// interface in one place: NATS subjects and stream names, the JetStream
// stream and consumer configurations, the fetch request's wire form, the
// CloudEvents type prefix and source, the order of the API's operations,
// Skatteverket's time zone and its service window.
//
// It is data and small pure functions; it imports no other package of the
// project, and every other package takes these names from here.
package contract
