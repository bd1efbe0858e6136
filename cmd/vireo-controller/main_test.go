package main

import (
	"strings"
	"testing"

	"go.uber.org/zap/zapcore"
)

func TestParseLogLevel(t *testing.T) {
	for in, want := range map[string]zapcore.Level{"debug": -4, "info": 0, "warn": 1, "error": 2, "0": 0, "4": -4, "10": -10} {
		got, err := parseLogLevel(in)
		if err != nil || got != want {
			t.Errorf("parseLogLevel(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "loud", "-1", "11"} {
		if _, err := parseLogLevel(bad); err == nil || !strings.Contains(err.Error(), "--log-level") {
			t.Errorf("parseLogLevel(%q) error %v, want one naming --log-level", bad, err)
		}
	}
}

// Bad flags fail before anything connects, with a message naming the flag.
func TestRunRejectsBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--qps=0"}, "--qps"},
		{[]string{"--burst=-1"}, "--burst"},
		{[]string{"--rollout-threads=0"}, "--rollout-threads"},
		{[]string{"--analysis-threads=0"}, "--analysis-threads"},
		{[]string{"--log-level=shout"}, "--log-level"},
		{[]string{"--instance-id=not a label value"}, "--instance-id"},
		{[]string{"--no-such-flag"}, "no-such-flag"},
		{[]string{"extra"}, "extra"},
		{[]string{"--kubeconfig=/nonexistent/kubeconfig"}, "--kubeconfig"},
	} {
		err := run(tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("run(%v) = %v, want an error naming %s", tc.args, err, tc.want)
		}
	}
}
