package lambdahost

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/dcrm-project/dcrm/scripts/devstack/awsid"
)

// Runtime API headers (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html).
const (
	headerRequestID   = "Lambda-Runtime-Aws-Request-Id"
	headerDeadline    = "Lambda-Runtime-Deadline-Ms"
	headerFunctionARN = "Lambda-Runtime-Invoked-Function-Arn"
	headerTraceID     = "Lambda-Runtime-Trace-Id"
	headerErrorType   = "Lambda-Runtime-Function-Error-Type"
	trailerErrorType  = "Lambda-Runtime-Function-Error-Type"
	trailerErrorBody  = "Lambda-Runtime-Function-Error-Body"
	headerExtensionID = "Lambda-Extension-Identifier"
)

func (e *environment) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", e.next)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", e.response)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", e.invocationError)
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", e.initError)
	mux.HandleFunc("POST /2020-01-01/extension/register", e.registerExtension)
	mux.HandleFunc("GET /2020-01-01/extension/event/next", e.extensionNext)
	return mux
}

// next blocks until there is an invocation for the process, as in Lambda, where the process is
// frozen in this call between invocations.
func (e *environment) next(w http.ResponseWriter, r *http.Request) {
	e.once.Do(func() { close(e.ready) })
	select {
	case inv := <-e.handoff:
		e.mu.Lock()
		e.current = inv
		e.mu.Unlock()
		h := w.Header()
		h.Set(headerRequestID, inv.id)
		h.Set(headerDeadline, strconv.FormatInt(inv.deadline.UnixMilli(), 10))
		h.Set(headerFunctionARN, e.fn.arn)
		h.Set(headerTraceID, traceID())
		h.Set("Content-Type", "application/json")
		// The length up front: a payload over 2 KB would otherwise go out chunked.
		h.Set("Content-Length", strconv.Itoa(len(inv.payload)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(inv.payload)
	case <-e.stop:
		http.Error(w, "environment shutting down", http.StatusGone)
	case <-r.Context().Done():
	}
}

// take returns the current invocation if id names it, and clears it: each gets one outcome.
func (e *environment) take(id string) (*invocation, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.current == nil || e.current.id != id {
		return nil, errInvalidRequestID
	}
	inv := e.current
	e.current = nil
	return inv, nil
}

func (e *environment) response(w http.ResponseWriter, r *http.Request) {
	inv, err := e.take(r.PathValue("id"))
	if err != nil {
		runtimeError(w, http.StatusBadRequest, "InvalidRequestID", err.Error())
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxPayload+1))
	switch {
	case err != nil:
		inv.result <- result{err: newFunctionError("Runtime.ResponseError", fmt.Sprintf("read response: %v", err))}
	case r.Trailer.Get(trailerErrorType) != "":
		// aws-lambda-go streams the response; an error while streaming arrives in trailers.
		inv.result <- result{err: errorFromTrailer(r.Trailer)}
	case len(body) > MaxPayload:
		_, _ = io.Copy(io.Discard, r.Body)
		inv.result <- result{err: newFunctionError("Function.ResponseSizeTooLarge",
			fmt.Sprintf("Response payload size exceeded maximum allowed payload size (%d bytes).", MaxPayload))}
	default:
		inv.result <- result{payload: body}
	}
	accepted(w)
}

func (e *environment) invocationError(w http.ResponseWriter, r *http.Request) {
	inv, err := e.take(r.PathValue("id"))
	if err != nil {
		runtimeError(w, http.StatusBadRequest, "InvalidRequestID", err.Error())
		return
	}
	inv.result <- result{err: readFunctionError(r)}
	accepted(w)
}

func (e *environment) initError(w http.ResponseWriter, r *http.Request) {
	fe := readFunctionError(r)
	e.mu.Lock()
	e.initErr = fe
	e.mu.Unlock()
	e.fn.spec.Logger.Warn("function init failed", "function", e.fn.spec.Name, "error", fe.Message)
	accepted(w)
}

// readFunctionError reads an error document posted by the runtime. Its body is returned to callers
// as is when it is JSON, as Lambda does.
func readFunctionError(r *http.Request) *FunctionError {
	body, _ := io.ReadAll(io.LimitReader(r.Body, MaxPayload))
	fe := &FunctionError{}
	if json.Unmarshal(body, fe) != nil || !json.Valid(body) {
		fe = &FunctionError{Message: string(body)}
		fe.Payload = nil
	} else {
		fe.Payload = body
	}
	if fe.Type == "" {
		fe.Type = r.Header.Get(headerErrorType)
	}
	if fe.Type == "" {
		fe.Type = "Unhandled"
	}
	if fe.Payload == nil {
		fe.Payload = mustJSON(map[string]string{"errorType": fe.Type, "errorMessage": fe.Message})
	}
	return fe
}

func errorFromTrailer(t http.Header) *FunctionError {
	fe := &FunctionError{Type: t.Get(trailerErrorType)}
	if raw, err := base64.StdEncoding.DecodeString(t.Get(trailerErrorBody)); err == nil && json.Valid(raw) {
		_ = json.Unmarshal(raw, fe)
		fe.Payload = raw
	}
	if fe.Payload == nil {
		fe.Payload = mustJSON(map[string]string{"errorType": fe.Type, "errorMessage": fe.Message})
	}
	return fe
}

// registerExtension accepts the internal extension aws-lambda-go registers to be sent SIGTERM at
// shutdown; no events are ever delivered to it.
func (e *environment) registerExtension(w http.ResponseWriter, r *http.Request) {
	w.Header().Set(headerExtensionID, awsid.UUID())
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{
		"functionName": e.fn.spec.Name, "functionVersion": "$LATEST", "handler": "bootstrap",
	})
}

func (e *environment) extensionNext(w http.ResponseWriter, r *http.Request) {
	select {
	case <-e.stop:
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"eventType": "SHUTDOWN", "shutdownReason": "spindown",
			"deadlineMs": time.Now().Add(500 * time.Millisecond).UnixMilli()})
	case <-r.Context().Done():
	}
}

func accepted(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, `{"status":"OK"}`)
}

func runtimeError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"errorType": typ, "errorMessage": msg})
}

// traceID is an X-Ray trace header with a fresh root and sampling off.
func traceID() string {
	return "Root=" + awsid.TraceRoot(time.Now()) + ";Parent=" + awsid.Hex(16) + ";Sampled=0"
}
