package audit

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// pending is an answer being written: its chunk's and its meta's acks.
type pending struct {
	sum         string
	chunk, meta jetstream.PubAckFuture
}

// write sends one answer as the Object Store stores an object, without
// waiting: one chunk message, then the meta message that rolls up the
// object's former meta (what jetstream.ObjectStore.Put sends, so every
// Object Store client reads it). What Put does besides costs round trips
// an answer does not need: a new reply subscription per call, and a
// lookup of the object before it, to purge the chunks of an older version.
// Here the chunk's subject is named by the answer's hash and the chunk
// rolls up its subject too, so that writing an answer again replaces it
// and leaves nothing behind. Unless force, the meta is stored only where
// none is (the answer's first call stays named; Keep looks at an answer
// kept before).
func (s *Store) write(sum string, meta jetstream.ObjectMeta, body []byte, force bool) (pending, error) {
	// sum is the body's hash in hex (skv.Call.Sha256): the Object
	// Store's digest is the same hash in base64.
	h, err := hex.DecodeString(sum)
	if err != nil || len(h) != sha256.Size {
		return pending{}, fmt.Errorf("answer name %q is not a SHA-256", sum)
	}
	info := jetstream.ObjectInfo{
		ObjectMeta: meta,
		Bucket:     s.bucket,
		NUID:       sum,
		Size:       uint64(len(body)),
		Digest:     "SHA-256=" + base64.URLEncoding.EncodeToString(h),
	}
	p := pending{sum: sum}
	if len(body) > 0 {
		info.Chunks = 1
		chunk := &nats.Msg{Subject: "$O." + s.bucket + ".C." + sum, Data: body,
			Header: nats.Header{jetstream.MsgRollup: []string{jetstream.MsgRollupSubject}}}
		if p.chunk, err = s.pub.PublishMsgAsync(chunk); err != nil {
			return p, err
		}
	}
	data, err := json.Marshal(info)
	if err != nil {
		return p, err
	}
	m := &nats.Msg{Subject: "$O." + s.bucket + ".M." + base64.URLEncoding.EncodeToString([]byte(meta.Name)), Data: data,
		Header: nats.Header{jetstream.MsgRollup: []string{jetstream.MsgRollupSubject}}}
	if !force {
		m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, "0")
	}
	p.meta, err = s.pub.PublishMsgAsync(m)
	return p, err
}

// wait waits for the acks of an answer's chunk and meta (once: a future
// answers one reader). It reports exists when the meta was refused
// because the answer has one already.
func (p pending) wait(ctx context.Context) (exists bool, err error) {
	for _, f := range []jetstream.PubAckFuture{p.chunk, p.meta} {
		if f == nil {
			continue
		}
		select {
		case <-f.Ok():
		case err := <-f.Err():
			var apiErr *jetstream.APIError
			if f == p.meta && errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
				apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
				return true, nil
			}
			return false, fmt.Errorf("audit: keep answer %s: %w", p.sum, err)
		case <-ctx.Done():
			return false, fmt.Errorf("audit: keep answer %s: %w", p.sum, ctx.Err())
		}
	}
	return false, nil
}
