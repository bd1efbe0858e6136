package cli

import (
	"bytes"
	"testing"
)

func TestSafeWriterEscapesWhatDrivesATerminal(t *testing.T) {
	for in, want := range map[string]string{
		"plain text\n\tindented":                 "plain text\n\tindented",
		"clip \x1b]52;c;aGVsbG8=\x07 board":      `clip \x1b]52;c;aGVsbG8=\x07 board`,
		"title \x1b]0;owned\x1b\\":               `title \x1b]0;owned\x1b\`,
		"\x1b[31mred\x1b[0m and \x1b[H\x1b[2J":   "\x1b[31mred\x1b[0m and \x1b[H\x1b[2J",
		"csi \x1b[6n query":                      `csi \x1b[6n query`,
		"c1 \u009b31m and bell \a and nul \x00":  `c1 \x9b31m and bell \x07 and nul \x00`,
		"invalid \xff byte, ünïcödé and 漢字 kept": `invalid \xff byte, ünïcödé and 漢字 kept`,
	} {
		var b bytes.Buffer
		if _, err := (safeWriter{&b}).Write([]byte(in)); err != nil {
			t.Fatal(err)
		}
		if b.String() != want {
			t.Errorf("%q\n got %q\nwant %q", in, b.String(), want)
		}
	}
}
