package lambdahost

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
)

// InvokeAPI serves Lambda's Invoke operation (POST /2015-03-31/functions/{name}/invocations), so
// that the AWS CLI and SDKs, pointed at it with AWS_ENDPOINT_URL_LAMBDA, can run any hosted
// function. The function may be named by its name, its ARN, or any alias the lookup accepts.
// Invocation types: RequestResponse (default), Event (accepted with 202 and run in the background)
// and DryRun. Not emulated: X-Amz-Log-Type: Tail, qualifiers other than $LATEST, client context.
type InvokeAPI struct {
	lookup func(name string) (*Function, bool)
	log    *slog.Logger
	bg     context.Context // for Event invocations, which outlive their request
}

// NewInvokeAPI serves the functions lookup finds. Background (Event) invocations run under ctx.
func NewInvokeAPI(ctx context.Context, lookup func(name string) (*Function, bool), log *slog.Logger) *InvokeAPI {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &InvokeAPI{lookup: lookup, log: log, bg: ctx}
}

func (a *InvokeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	const prefix, suffix = "/2015-03-31/functions/", "/invocations"
	path := r.URL.Path
	if r.Method != http.MethodPost || !strings.HasPrefix(path, prefix) || !strings.HasSuffix(path, suffix) {
		apiError(w, http.StatusNotFound, "ResourceNotFoundException", "only the Invoke operation is served here")
		return
	}
	name := functionName(path[len(prefix) : len(path)-len(suffix)])
	if q := r.URL.Query().Get("Qualifier"); q != "" && q != "$LATEST" {
		apiError(w, http.StatusNotFound, "ResourceNotFoundException", "only $LATEST exists locally, not "+q)
		return
	}
	fn, ok := a.lookup(name)
	if !ok {
		apiError(w, http.StatusNotFound, "ResourceNotFoundException", "Function not found: "+name)
		return
	}
	payload, err := io.ReadAll(io.LimitReader(r.Body, MaxPayload+1))
	if err != nil {
		apiError(w, http.StatusBadRequest, "InvalidRequestContentException", "read request body: "+err.Error())
		return
	}
	if len(payload) > MaxPayload {
		apiError(w, http.StatusRequestEntityTooLarge, "RequestTooLargeException", "Request must be smaller than 6291456 bytes for the InvokeFunction operation")
		return
	}
	if len(payload) == 0 {
		payload = []byte("{}")
	}
	if !json.Valid(payload) {
		apiError(w, http.StatusBadRequest, "InvalidRequestContentException", "Could not parse request body into json")
		return
	}

	switch typ := r.Header.Get("X-Amz-Invocation-Type"); typ {
	case "", "RequestResponse":
	case "DryRun":
		w.WriteHeader(http.StatusNoContent)
		return
	case "Event":
		go func() {
			if _, err := fn.Invoke(a.bg, payload); err != nil {
				a.log.Warn("asynchronous invocation failed", "function", fn.Name(), "error", err)
			}
		}()
		w.WriteHeader(http.StatusAccepted)
		return
	default:
		apiError(w, http.StatusBadRequest, "InvalidParameterValueException", "unknown invocation type "+typ)
		return
	}

	out, err := fn.Invoke(r.Context(), payload)
	var fe *FunctionError
	switch {
	case errors.As(err, &fe):
		w.Header().Set("X-Amz-Function-Error", "Unhandled")
		out = fe.Payload
	case errors.Is(err, context.Canceled):
		return // the caller left
	case err != nil:
		apiError(w, http.StatusInternalServerError, "ServiceException", err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amz-Executed-Version", "$LATEST")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
}

// functionName takes the name out of an ARN or partial ARN ("123456789012:function:name").
func functionName(s string) string {
	parts := strings.Split(s, ":")
	for i, p := range parts {
		if p == "function" && i+1 < len(parts) {
			return parts[i+1]
		}
	}
	return s
}

func apiError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", typ)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"Type": "User", "Message": msg, "message": msg})
}
