
# Export stage: only each package's /out/<name>/ reaches `--output type=local`.
FROM scratch AS export
@@{copies}
