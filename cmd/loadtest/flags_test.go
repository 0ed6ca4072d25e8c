package main

import (
	"io"
	"testing"
	"time"
)

func TestNATSSyncFlag(t *testing.T) {
	tests := []struct {
		args    []string
		want    time.Duration
		wantErr bool
	}{
		{nil, 0, false},
		{[]string{"-nats-sync", "always"}, 0, false},
		{[]string{"-nats-sync", "2m"}, 2 * time.Minute, false},
		{[]string{"-nats-sync", "0s"}, 0, true},
		{[]string{"-nats-sync", "never"}, 0, true},
	}
	for _, tc := range tests {
		f, err := parseFlags(tc.args, io.Discard)
		if (err != nil) != tc.wantErr {
			t.Errorf("%q: got error %v, want error %v", tc.args, err, tc.wantErr)
			continue
		}
		if err == nil && f.cfg.NATSSyncInterval != tc.want {
			t.Errorf("%q: got %v, want %v", tc.args, f.cfg.NATSSyncInterval, tc.want)
		}
	}
}
