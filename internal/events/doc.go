// Package events defines the event catalogue of CONTRACT §4, computes the
// events that separate an account's stored state from a fresh API answer
// (Diff, a pure function), and publishes them together with the new state
// in one atomic JetStream batch (Store), so that each change is stored
// exactly once.
package events
