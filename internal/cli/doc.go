// Package cli is kubectl-vireo: its commands, and the tree it draws of a
// rollout. Every change it makes to a cluster goes through pkg/actions, the
// package the dashboard uses too.
package cli
