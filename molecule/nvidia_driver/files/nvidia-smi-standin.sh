#!/bin/sh
# Test stand-in for nvidia-smi on a host without GPUs. It prints outputs recorded on an
# 8x H100 SXM host (tests/fixtures/gpu/h100x8.*) and refuses any other question, so a role that
# asks for different fields fails here instead of parsing the wrong columns.
dir=/opt/hearth-test/nvidia-smi
fields=index,name,uuid,memory.total,driver_version,mig.mode.current,persistence_mode,pci.bus_id
case "$*" in
  "") exec cat "$dir/h100x8.smi.txt" ;;
  "topo -m") exec cat "$dir/h100x8.topo.txt" ;;
  "--query-gpu=$fields --format=csv,noheader,nounits") exec cat "$dir/h100x8.query.csv" ;;
  *) echo "stand-in nvidia-smi: unsupported arguments: $*" >&2; exit 2 ;;
esac
