package cli

import (
	"fmt"
	"io"
	"unicode/utf8"
)

// safeWriter passes text to a terminal with every control character that
// could drive it escaped, so that a message, an image or a name from the
// cluster cannot, say, write the clipboard (OSC 52) or retitle the window.
// It lets through newlines, tabs and the CLI's own sequences: colours
// (ESC [ … m) and the redraw of watch (ESC [ H, ESC [ 2 J).
type safeWriter struct{ w io.Writer }

func (s safeWriter) Write(p []byte) (int, error) {
	out := make([]byte, 0, len(p))
	for i := 0; i < len(p); {
		c := p[i]
		if c == 0x1b {
			if n := allowedSequence(p[i:]); n > 0 {
				out = append(out, p[i:i+n]...)
				i += n
				continue
			}
		}
		r, size := utf8.DecodeRune(p[i:])
		switch {
		case r == '\n' || r == '\t':
			out = append(out, byte(r))
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			out = fmt.Appendf(out, `\x%02x`, r)
		case r == utf8.RuneError && size == 1:
			out = fmt.Appendf(out, `\x%02x`, c)
		default:
			out = append(out, p[i:i+size]...)
		}
		i += size
	}
	if _, err := s.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// allowedSequence is the length of the CLI's own escape sequence at the
// start of p (ESC [ digits and semicolons, then m, H or J), or 0.
func allowedSequence(p []byte) int {
	if len(p) < 3 || p[1] != '[' {
		return 0
	}
	for i := 2; i < len(p) && i < 32; i++ {
		switch c := p[i]; {
		case c >= '0' && c <= '9' || c == ';':
		case c == 'm' || c == 'H' || c == 'J':
			return i + 1
		default:
			return 0
		}
	}
	return 0
}
