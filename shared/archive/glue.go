package archive

// How the Glue tables read the files: Parquet through Hive's Parquet SerDe, as Athena expects.
const (
	GlueInputFormat  = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
	GlueOutputFormat = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
	GlueSerDe        = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
)

// Location is the table's S3 location: s3://BUCKET/PREFIX/events/ (prefix "" for the bucket's
// root, else ending in "/").
func (t Table) Location(bucket, prefix string) string {
	return "s3://" + bucket + "/" + prefix + t.Prefix
}

// GlueParameters are the Glue table's parameters: Parquet, and Athena's partition projection of
// dt as a date from since (YYYY-MM-DD, e.g. the deployment's first day) to today, so that a new
// day's partition is queried without a crawler, MSCK REPAIR or an AddPartition call.
func (t Table) GlueParameters(bucket, prefix, since string) map[string]string {
	dt := t.Partition.Name
	return map[string]string{
		"classification":                      "parquet",
		"EXTERNAL":                            "TRUE",
		"projection.enabled":                  "true",
		"projection." + dt + ".type":          "date",
		"projection." + dt + ".format":        "yyyy-MM-dd",
		"projection." + dt + ".range":         since + ",NOW",
		"projection." + dt + ".interval":      "1",
		"projection." + dt + ".interval.unit": "DAYS",
		"storage.location.template":           t.Location(bucket, prefix) + dt + "=${" + dt + "}/",
	}
}
