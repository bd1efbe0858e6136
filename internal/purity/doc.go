// Package purity holds only a test: it keeps the planners pure. A planner
// takes what was observed and the time, and returns a plan; it reads no
// clock, calls no API server and opens no connection. The test fails when a
// planner package links a Kubernetes client, controller-runtime or a cloud
// SDK, imports net/http or os/exec itself, or reads the clock.
package purity
