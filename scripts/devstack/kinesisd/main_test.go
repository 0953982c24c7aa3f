package main

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdk "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/dcrm-project/dcrm/shared/localaws"
)

func TestServesUntilStopped(t *testing.T) {
	ctx, stop := context.WithCancel(t.Context())
	var stderr bytes.Buffer
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-port", "0", "-throttle=false"}, &stderr, ready) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("run: %v (%s)", err, stderr.String())
	}
	k := sdk.NewFromConfig(localaws.Endpoints{}.Config(), func(o *sdk.Options) { o.BaseEndpoint = aws.String("http://" + addr) })
	_, err := k.DescribeStreamSummary(ctx, &sdk.DescribeStreamSummaryInput{StreamName: aws.String("none")})
	var missing *types.ResourceNotFoundException
	if !errors.As(err, &missing) {
		t.Fatalf("describe a stream that does not exist: %v, want ResourceNotFoundException", err)
	}
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run after stop: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("did not stop")
	}
}

func TestRefusesUnknownFlags(t *testing.T) {
	var stderr bytes.Buffer
	if err := run(t.Context(), []string{"-nope"}, &stderr, nil); err == nil {
		t.Error("an unknown flag was accepted")
	}
}
