package judge

// The measurement metadata keys the judge writes: its state, read by the
// next measurement, and a readable record of where the test stands, read
// by the CLI and the dashboard.
const (
	MetaState     = "judge.state"
	MetaEValue    = "judge.eValue"
	MetaFailsAt   = "judge.failsAt"
	MetaLow       = "judge.ratioLow"
	MetaHigh      = "judge.ratioHigh"
	MetaTolerated = "judge.tolerated"
	MetaCounts    = "judge.counts"
	MetaBoundary  = "judge.boundary"
)
