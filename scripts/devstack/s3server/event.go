package s3server

import (
	"encoding/json"
	"net/url"
	"strings"
)

// Event is the S3 event notification of an object created, as S3 sends it to a Lambda function
// (aws-lambda-go's events.S3Event): one record, the key URL-encoded as S3 encodes it.
// configurationID names the notification, as a bucket's notification configuration does.
func Event(c Created, region, configurationID string) []byte {
	rec := record{
		EventVersion: "2.1", EventSource: "aws:s3", AWSRegion: region,
		EventTime: c.Time.UTC().Format("2006-01-02T15:04:05.000Z"), EventName: c.Event,
		UserIdentity:      principal{"AWS:LOCAL"},
		RequestParameters: map[string]string{"sourceIPAddress": c.SourceIP},
		ResponseElements:  map[string]string{"x-amz-request-id": c.Sequencer, "x-amz-id-2": "local/" + c.Sequencer},
	}
	rec.S3.SchemaVersion = "1.0"
	rec.S3.ConfigurationID = configurationID
	rec.S3.Bucket.Name = c.Bucket
	rec.S3.Bucket.OwnerIdentity = principal{"LOCAL"}
	rec.S3.Bucket.ARN = "arn:aws:s3:::" + c.Bucket
	rec.S3.Object.Key = EncodeKey(c.Key)
	rec.S3.Object.Size = c.Size
	rec.S3.Object.ETag = c.ETag
	rec.S3.Object.Sequencer = c.Sequencer
	b, _ := json.Marshal(map[string][]record{"Records": {rec}})
	return b
}

// EncodeKey encodes a key as S3 does in its notifications: as a form value (a space is "+", a "+"
// is "%2B", UTF-8 bytes are %XX), the slashes left as they are. url.QueryUnescape decodes it.
func EncodeKey(key string) string {
	return strings.ReplaceAll(url.QueryEscape(key), "%2F", "/")
}

type principal struct {
	PrincipalID string `json:"principalId"`
}

type record struct {
	EventVersion      string            `json:"eventVersion"`
	EventSource       string            `json:"eventSource"`
	AWSRegion         string            `json:"awsRegion"`
	EventTime         string            `json:"eventTime"`
	EventName         string            `json:"eventName"`
	UserIdentity      principal         `json:"userIdentity"`
	RequestParameters map[string]string `json:"requestParameters"`
	ResponseElements  map[string]string `json:"responseElements"`
	S3                struct {
		SchemaVersion   string `json:"s3SchemaVersion"`
		ConfigurationID string `json:"configurationId"`
		Bucket          struct {
			Name          string    `json:"name"`
			OwnerIdentity principal `json:"ownerIdentity"`
			ARN           string    `json:"arn"`
		} `json:"bucket"`
		Object struct {
			Key       string `json:"key"`
			Size      int64  `json:"size"`
			ETag      string `json:"eTag"`
			Sequencer string `json:"sequencer"`
		} `json:"object"`
	} `json:"s3"`
}
