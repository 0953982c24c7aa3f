package faults

import (
	"encoding/json"
	"encoding/xml"
	"hash/crc32"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Error is an error answer, written in the shape of the service that was called: the JSON
// protocols' {"__type": …, "message": …} (with the namespace DynamoDB and SQS put before the code,
// and SQS's x-amzn-query-error header), or the query protocol's XML ErrorResponse.
type Error struct {
	Code    string `json:"code"`              // "ProvisionedThroughputExceededException", "ThrottlingException", "InternalFailure" …
	Status  int    `json:"status,omitempty"`  // default: 500 for internal failures and unavailability, else 400
	Message string `json:"message,omitempty"` // default: AWS's usual wording for the code
}

// Errors AWS answers when it is busy or broken, as the SDKs and dcrm's code expect them.
var (
	// KinesisThrottled is a shard over its write (1 MB or 1,000 records per second) or read limits.
	KinesisThrottled = &Error{Code: "ProvisionedThroughputExceededException", Message: "Rate exceeded for shard shardId-000000000000 in stream under account 000000000000."}
	// KinesisInternal is Kinesis failing a call on its side.
	KinesisInternal = &Error{Code: "InternalFailure", Status: 500, Message: "Internal service failure."}
	// DynamoThroughputExceeded is a table or index over its provisioned capacity (or an
	// on-demand table's partition over its limits).
	DynamoThroughputExceeded = &Error{Code: "ProvisionedThroughputExceededException", Message: "The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API."}
	// DynamoThrottling is the request rate over the account's or the control plane's limits.
	DynamoThrottling = &Error{Code: "ThrottlingException", Message: "Rate of requests exceeds the allowed throughput."}
	// DynamoInternal is DynamoDB failing a request on its side.
	DynamoInternal = &Error{Code: "InternalServerError", Status: 500, Message: "Internal server error"}
	// SQSUnavailable is SQS unable to serve the request for now.
	SQSUnavailable = &Error{Code: "ServiceUnavailable", Status: 503, Message: "The request has failed due to a temporary failure of the server."}
	// FirehoseUnavailable is Data Firehose too busy to take a call (its answer when a stream is
	// over its throughput limits too); the SDK retries it.
	FirehoseUnavailable = &Error{Code: "ServiceUnavailableException", Status: 503, Message: "The service is unavailable. Back off and retry the operation."}
	// SQSInternal is SQS failing a request on its side.
	SQSInternal = &Error{Code: "InternalError", Status: 500, Message: "We encountered an internal error. Please try again."}
)

func (e *Error) status() int {
	if e.Status != 0 {
		return e.Status
	}
	switch e.Code {
	case "InternalFailure", "InternalServerError", "InternalError":
		return http.StatusInternalServerError
	case "ServiceUnavailable", "ServiceUnavailableException":
		return http.StatusServiceUnavailable
	}
	return http.StatusBadRequest
}

// namespaces are where the JSON protocols' error types live, per service, as AWS writes them.
var namespaces = map[string]string{
	"dynamodb": "com.amazonaws.dynamodb.v20120810#",
	"sqs":      "com.amazonaws.sqs#",
}

func (e *Error) write(w http.ResponseWriter, service string, req *http.Request) {
	h := w.Header()
	h.Set("X-Amzn-Requestid", "fault-injected")
	ct := req.Header.Get("Content-Type")
	if strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		// The query protocol (older SQS clients).
		h.Set("Content-Type", "text/xml")
		w.WriteHeader(e.status())
		kind := "Sender"
		if e.status() >= 500 {
			kind = "Receiver"
		}
		_ = xml.NewEncoder(w).Encode(struct {
			XMLName xml.Name `xml:"ErrorResponse"`
			Type    string   `xml:"Error>Type"`
			Code    string   `xml:"Error>Code"`
			Message string   `xml:"Error>Message"`
			ID      string   `xml:"RequestId"`
		}{Type: kind, Code: e.Code, Message: e.Message, ID: "fault-injected"})
		return
	}
	if ct == "" {
		ct = "application/x-amz-json-1.1"
	}
	h.Set("Content-Type", ct)
	if service == "sqs" {
		kind := "Sender"
		if e.status() >= 500 {
			kind = "Receiver"
		}
		h.Set("X-Amzn-Query-Error", e.Code+";"+kind) // the query protocol's code, which the SDK reads first
	}
	body, _ := json.Marshal(map[string]string{"__type": namespaces[service] + e.Code, "message": e.Message})
	if service == "dynamodb" {
		h.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10)) // DynamoDB's SDKs check it
	}
	w.WriteHeader(e.status())
	_, _ = w.Write(body)
}

func parseQuery(body []byte) (url.Values, error) { return url.ParseQuery(string(body)) }
