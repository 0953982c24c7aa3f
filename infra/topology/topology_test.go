package topology

import "testing"

func TestDefaultIsValid(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestEnvVar(t *testing.T) {
	top := Default()
	for resource, want := range map[string]string{
		ProfileTable: "DCRM_PROFILES_TABLE",
		EventStream:  "DCRM_BEACONS_STREAM",
		AlertQueue:   "DCRM_ALERTS_QUEUE_URL",
		FailedQueue:  "DCRM_FAILED_EVENTS_QUEUE_URL",
	} {
		if got := top.EnvVar(resource); got != want {
			t.Errorf("EnvVar(%s) = %s, want %s", resource, got, want)
		}
	}
}

func TestValidateRejectsDanglingReferences(t *testing.T) {
	top := Default()
	top.Routes = append(top.Routes, Route{"GET", "/x", "nope", true})
	if top.Validate() == nil {
		t.Fatal("route to an unknown function passed validation")
	}
	top = Default()
	top.Queues = append(top.Queues, Queue{Name: ProfileTable})
	if top.Validate() == nil {
		t.Fatal("a name declared twice passed validation")
	}
}
