package live

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// answer is one line of the load generator's log.
type answer struct {
	sent   time.Time
	took   time.Duration
	status int // 0: no answer
	color  string
}

func (a answer) failed() bool { return a.status != 200 }

// readLoad reads the load log's answers to requests sent in [from, to).
func readLoad(path string, from, to time.Time) ([]answer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var all []answer
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		fields := strings.Fields(sc.Text())
		if len(fields) != 4 {
			return nil, fmt.Errorf("%s:%d: %q is not SENT MICROS STATUS COLOUR", path, n, sc.Text())
		}
		sent, err1 := strconv.ParseInt(fields[0], 10, 64)
		micros, err2 := strconv.ParseInt(fields[1], 10, 64)
		status, err3 := strconv.Atoi(fields[2])
		if err1 != nil || err2 != nil || err3 != nil {
			return nil, fmt.Errorf("%s:%d: %q is not SENT MICROS STATUS COLOUR", path, n, sc.Text())
		}
		all = append(all, answer{sent: time.Unix(0, sent), took: time.Duration(micros) * time.Microsecond, status: status, color: fields[3]})
	}
	return within(all, from, to), sc.Err()
}

// within returns the answers to requests sent in [from, to).
func within(list []answer, from, to time.Time) []answer {
	var out []answer
	for _, a := range list {
		if !a.sent.Before(from) && a.sent.Before(to) {
			out = append(out, a)
		}
	}
	return out
}

func count(list []answer, pred func(answer) bool) int {
	n := 0
	for _, a := range list {
		if pred(a) {
			n++
		}
	}
	return n
}
