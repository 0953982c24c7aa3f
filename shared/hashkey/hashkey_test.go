package hashkey

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/infra/topology"
)

const secret = "0123456789abcdef0123456789abcdef"

func TestSumIsHMACSHA256OfTheLengthPrefixedParts(t *testing.T) {
	k, err := New([]byte(secret))
	require.NoError(t, err)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("\x09tombstone\x0buser:alice1"))
	assert.Equal(t, base64.RawURLEncoding.EncodeToString(mac.Sum(nil)), k.Sum("tombstone", "user:alice1"))
	assert.Len(t, k.Sum("x"), 43)
}

func TestSumSeparatesPurposesPartsAndKeys(t *testing.T) {
	k, _ := New([]byte(secret))
	other, _ := New([]byte(secret + "!"))
	assert.NotEqual(t, k.Sum("tombstone", "a"), k.Sum("dedup", "a"), "purpose")
	assert.NotEqual(t, k.Sum("p", "ab", "c"), k.Sum("p", "a", "bc"), "part boundaries")
	assert.NotEqual(t, k.Sum("p", "a"), other.Sum("p", "a"), "key")
	assert.Equal(t, k.Sum("p", "a", "b"), k.Sum("p", "a", "b"))
}

func TestShortOrMissingKeysAreRefused(t *testing.T) {
	_, err := New([]byte("short"))
	assert.ErrorIs(t, err, ErrTooShort)
	env := map[string]string{}
	_, err = Load(context.Background(), func(k string) string { return env[k] }, aws.Config{})
	assert.ErrorContains(t, err, EnvKey)
	assert.ErrorContains(t, err, EnvSecret)
	env[EnvKey] = secret
	k, err := Load(context.Background(), func(k string) string { return env[k] }, aws.Config{})
	require.NoError(t, err)
	want, _ := New([]byte(secret))
	assert.Equal(t, want.Sum("p", "a"), k.Sum("p", "a"))
	assert.Panics(t, func() { Key{}.Sum("p") })
}

func TestTheTopologyNamesTheVariablesLoadReads(t *testing.T) {
	top := topology.Default()
	assert.Equal(t, EnvSecret, top.EnvVar(topology.HashKeySecret))
	assert.Equal(t, EnvKey, top.SecretValueEnvVar(topology.HashKeySecret))
}
