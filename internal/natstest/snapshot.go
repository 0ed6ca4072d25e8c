package natstest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// StreamSnapshot is a JetStream snapshot of one stream: what the server's
// snapshot API sends (the stream's configuration and state, and an
// archive of its store, consumers included).
type StreamSnapshot struct {
	Stream string
	Config json.RawMessage
	State  json.RawMessage
	Data   []byte
}

// apiError is the error of a JetStream API answer.
type apiError struct {
	Code        int    `json:"code"`
	ErrCode     int    `json:"err_code"`
	Description string `json:"description"`
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%s (%d, %d)", e.Description, e.Code, e.ErrCode)
}

// Snapshot takes a snapshot of stream through the server's snapshot API
// ($JS.API.STREAM.SNAPSHOT.<stream>), consumers included, as the nats
// CLI's "stream backup" does. The stream keeps serving while it is taken.
func Snapshot(tb testing.TB, nc *nats.Conn, stream string) *StreamSnapshot {
	tb.Helper()
	snap, err := snapshot(nc, stream)
	if err != nil {
		tb.Fatalf("snapshot %s: %v", stream, err)
	}
	return snap
}

func snapshot(nc *nats.Conn, stream string) (*StreamSnapshot, error) {
	inbox := nc.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return nil, err
	}
	defer func() { _ = sub.Unsubscribe() }()
	req, err := json.Marshal(map[string]any{"deliver_subject": inbox, "chunk_size": 64 << 10})
	if err != nil {
		return nil, err
	}
	m, err := nc.Request("$JS.API.STREAM.SNAPSHOT."+stream, req, 10*time.Second)
	if err != nil {
		return nil, err
	}
	var resp struct {
		Error  *apiError       `json:"error"`
		Config json.RawMessage `json:"config"`
		State  json.RawMessage `json:"state"`
	}
	if err := json.Unmarshal(m.Data, &resp); err != nil {
		return nil, fmt.Errorf("answer %q: %w", m.Data, err)
	}
	if resp.Error != nil {
		return nil, resp.Error
	}
	snap := &StreamSnapshot{Stream: stream, Config: resp.Config, State: resp.State}
	var data bytes.Buffer
	for {
		chunk, err := sub.NextMsg(10 * time.Second)
		if err != nil {
			return nil, fmt.Errorf("after %d bytes: %w", data.Len(), err)
		}
		if len(chunk.Data) == 0 {
			// The end: no status or 204 when complete, else the error.
			if st := chunk.Header.Get("Status"); st != "" && st != "204" {
				return nil, fmt.Errorf("after %d bytes: status %s %s", data.Len(), st, chunk.Header.Get("Description"))
			}
			snap.Data = data.Bytes()
			return snap, nil
		}
		data.Write(chunk.Data)
		if chunk.Reply != "" {
			if err := chunk.Respond(nil); err != nil { // flow control
				return nil, err
			}
		}
	}
}

// Restore deletes the stream and puts snap in its place through the
// server's restore API ($JS.API.STREAM.RESTORE.<stream>): messages,
// sequences, consumers and their acknowledgements are what they were
// when snap was taken, as after a power loss that took the later writes.
// nats-server v2.15.2 forgets the restored messages' Nats-Msg-Ids until
// the stream is next recovered (de-duplication is rebuilt when a stream is
// loaded at start, not after a restore): restart the server after Restore
// to get what a server finds after a power loss, restored ids known and
// lost ones forgotten.
func Restore(tb testing.TB, nc *nats.Conn, snap *StreamSnapshot) {
	tb.Helper()
	if err := restore(nc, snap); err != nil {
		tb.Fatalf("restore %s: %v", snap.Stream, err)
	}
}

func restore(nc *nats.Conn, snap *StreamSnapshot) error {
	var deleted struct {
		Error *apiError `json:"error"`
	}
	m, err := nc.Request("$JS.API.STREAM.DELETE."+snap.Stream, nil, 10*time.Second)
	if err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	if err := json.Unmarshal(m.Data, &deleted); err != nil {
		return fmt.Errorf("delete: answer %q: %w", m.Data, err)
	}
	if deleted.Error != nil && deleted.Error.ErrCode != 10059 { // 10059: no such stream
		return fmt.Errorf("delete: %w", deleted.Error)
	}
	req, err := json.Marshal(map[string]json.RawMessage{"config": snap.Config, "state": snap.State})
	if err != nil {
		return err
	}
	m, err = nc.Request("$JS.API.STREAM.RESTORE."+snap.Stream, req, 10*time.Second)
	if err != nil {
		return err
	}
	var resp struct {
		Error          *apiError `json:"error"`
		DeliverSubject string    `json:"deliver_subject"`
	}
	if err := json.Unmarshal(m.Data, &resp); err != nil {
		return fmt.Errorf("answer %q: %w", m.Data, err)
	}
	if resp.Error != nil {
		return resp.Error
	}
	const chunkSize = 64 << 10
	for data := snap.Data; len(data) > 0; {
		n := min(chunkSize, len(data))
		ack, err := nc.Request(resp.DeliverSubject, data[:n], 10*time.Second)
		if err != nil {
			return fmt.Errorf("chunk: %w", err)
		}
		if len(ack.Data) > 0 {
			if err := answerError(ack.Data); err != nil {
				return fmt.Errorf("chunk: %w", err)
			}
		}
		data = data[n:]
	}
	done, err := nc.Request(resp.DeliverSubject, nil, 30*time.Second)
	if err != nil {
		return fmt.Errorf("finish: %w", err)
	}
	return answerError(done.Data)
}

// answerError returns the error of a JetStream API answer, nil if none.
func answerError(data []byte) error {
	var resp struct {
		Error *apiError `json:"error"`
	}
	if err := json.Unmarshal(data, &resp); err != nil {
		return fmt.Errorf("answer %q: %w", data, err)
	}
	if resp.Error != nil {
		return resp.Error
	}
	return nil
}

// streamDir is where a server storing under storeDir keeps stream's
// files (the global account, no JetStream domain).
func streamDir(storeDir, stream string) string {
	return filepath.Join(storeDir, "jetstream", "$G", "streams", stream)
}

// CopyStreamFiles copies the files of stream (messages and consumers)
// from the store directory of a stopped server, for PutBackStreamFiles.
func CopyStreamFiles(tb testing.TB, storeDir, stream string) string {
	tb.Helper()
	dst := filepath.Join(tb.TempDir(), stream)
	if err := os.CopyFS(dst, os.DirFS(streamDir(storeDir, stream))); err != nil {
		tb.Fatalf("copy the files of %s: %v", stream, err)
	}
	return dst
}

// PutBackStreamFiles puts the files copied by CopyStreamFiles back in the
// store directory of a stopped server: at its next start the stream, its
// consumers and their acknowledgements are as they were then, as after a
// power loss that took the later writes, while the other streams keep
// theirs. Unlike Restore it deletes nothing a running client could notice.
func PutBackStreamFiles(tb testing.TB, storeDir, stream, saved string) {
	tb.Helper()
	dir := streamDir(storeDir, stream)
	if err := os.RemoveAll(dir); err != nil {
		tb.Fatal(err)
	}
	if err := os.CopyFS(dir, os.DirFS(saved)); err != nil {
		tb.Fatalf("put back the files of %s: %v", stream, err)
	}
}
