package main

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/skattekonto-events/skattekonto-events/internal/config"
)

func TestLogDurationsCarryAUnit(t *testing.T) {
	var buf bytes.Buffer
	log := newLogger(&config.Config{LogFormat: "json"}, &buf)
	log.Info().Dur("duration", 1500*time.Millisecond).Msg("x")
	var line struct {
		Duration any `json:"duration"`
	}
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatal(err)
	}
	if got, want := line.Duration, "1.5s"; got != want {
		t.Errorf("duration logged as %#v, want %q", got, want)
	}
}
