#!/usr/bin/env bash
# Hostile variants (udf_hostile: truncated, damaged descriptors, ICB loops, absurd sizes, bad names;
# mounted writable and changed where they verify) of UDF 2.50 and 2.60 images with a metadata
# partition written by pktfuse's engine (udf_meta_image): no crash, hang or unsafe name.  Run under
# ASan and UBSan too.  The specific damages (mirror and metadata file disagreeing, a lying metadata
# bitmap) are test_udf_write's meta_not_verified_not_written: read-only, never written.
set -euo pipefail
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
for row in "2.50 hd" "2.60 cdrw"; do
	read -r rev media <<< "$row"
	"$UDF_META_IMAGE" "$W/img" "$rev" "$media"
	echo -n "UDF $rev $media: "
	"$UDF_HOSTILE" "$W/img" "${SEEDS:-400}"
done
