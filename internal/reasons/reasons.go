// Package reasons names the reasons of the Events and conditions Vireo
// writes. Where Argo Rollouts has a reason for the same thing, the name is
// Argo's, so that `kubectl describe`, Argo CD, notification triggers and
// alert rules written for Argo read Vireo's the same way. Reasons of Vireo's
// own (no Argo counterpart) are marked so.
package reasons

// Rollout Events, under Argo Rollouts' names.
const (
	// RolloutAddedToInformer: the controller has started watching the
	// Rollout (every Rollout, each time a controller starts).
	RolloutAddedToInformer = "RolloutAddedToInformer"
	// RolloutUpdated: the pod template changed, a new revision begins.
	RolloutUpdated = "RolloutUpdated"
	// NewReplicaSetCreated: a ReplicaSet was created for a new revision.
	NewReplicaSetCreated = "NewReplicaSetCreated"
	// ScalingReplicaSet: a ReplicaSet's spec.replicas changed.
	ScalingReplicaSet = "ScalingReplicaSet"
	// RolloutCompleted and RolloutNotCompleted: the Completed condition
	// turned True, or False again for a new revision.
	RolloutCompleted    = "RolloutCompleted"
	RolloutNotCompleted = "RolloutNotCompleted"
	// SwitchService: a Service's pod-template-hash selector moved.
	SwitchService = "SwitchService"
	// RolloutPaused and RolloutResumed: a pause began or ended.
	RolloutPaused  = "RolloutPaused"
	RolloutResumed = "RolloutResumed"
	// RolloutStepCompleted: a canary step is done.
	RolloutStepCompleted = "RolloutStepCompleted"
	// RolloutAborted: the update was aborted (by a person or an analysis).
	RolloutAborted = "RolloutAborted"
	// TrafficWeightUpdated: the routers' canary weight changed.
	TrafficWeightUpdated = "TrafficWeightUpdated"
	// ProgressDeadlineExceeded: no progress within progressDeadlineSeconds
	// (also the Progressing condition's reason).
	ProgressDeadlineExceeded = "ProgressDeadlineExceeded"
	// AnalysisRunRunning, AnalysisRunFailed, ...: "AnalysisRun" + the run's
	// phase, on the run and on its Rollout.
	AnalysisRunPrefix = "AnalysisRun"
	// ExperimentPrefix + phase, likewise for Experiments.
	ExperimentPrefix = "Experiment"
)

// Reasons of the Progressing condition, under Argo Rollouts' names (see
// also ProgressDeadlineExceeded, RolloutPaused and RolloutAborted).
const (
	// NewReplicaSetAvailable: the current revision is fully rolled out.
	NewReplicaSetAvailable = "NewReplicaSetAvailable"
	// ReplicaSetUpdated: the current revision is rolling out.
	ReplicaSetUpdated = "ReplicaSetUpdated"
	// ReplicaSetCreateError: the new ReplicaSet could not be created.
	ReplicaSetCreateError = "ReplicaSetCreateError"
)

// Events of Vireo's own, with no Argo counterpart.
const (
	// HashCollision: a ReplicaSet of another owner holds the new
	// ReplicaSet's name; the collision count goes up.
	HashCollision = "HashCollision"
	// ReplicaSetAdopted: an orphaned ReplicaSet matching the Rollout became its own.
	ReplicaSetAdopted = "ReplicaSetAdopted"
	// RolloutPromoted: promote --full, or a canary without steps made stable.
	RolloutPromoted = "RolloutPromoted"
	// ScalingUpPreview: a blue-green preview grows to full size before the switch.
	ScalingUpPreview = "ScalingUpPreview"
	// ScaleDownScheduled: an aborted canary's pods go after a delay.
	ScaleDownScheduled = "ScaleDownScheduled"
	// AnalysisRunCreated, AnalysisRunTerminated, AnalysisRunError: the
	// Rollout or Experiment created, stopped, or could not create a run.
	AnalysisRunCreated    = "AnalysisRunCreated"
	AnalysisRunTerminated = "AnalysisRunTerminated"
	AnalysisRunError      = "AnalysisRunError"
	// ExperimentCreated: the Experiment of an experiment step was created.
	ExperimentCreated = "ExperimentCreated"
	// ReplicaSetCreated: an Experiment created a template's ReplicaSet.
	ReplicaSetCreated = "ReplicaSetCreated"
	// RolloutRestarted and RestartingPods: spec.restartAt replaced the pods.
	RolloutRestarted = "RolloutRestarted"
	RestartingPods   = "RestartingPods"
	// EvictionBlocked: a pod could not be evicted for a restart (a
	// PodDisruptionBudget).
	EvictionBlocked = "EvictionBlocked"
	// TrafficRoutingError: a router could not be written or read.
	TrafficRoutingError = "TrafficRoutingError"
	// SpecValueLeftOut: a value of the pod template that the API types
	// refuse (an invalid quantity) was left out; the rollout goes on.
	SpecValueLeftOut = "SpecValueLeftOut"
)
