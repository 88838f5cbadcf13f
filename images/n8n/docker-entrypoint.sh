#!/bin/sh
# zixly offline kit: the n8nio/n8n entrypoint contract: run n8n with the given arguments.
if [ -d /opt/custom-certificates ]; then
	echo "Trusting custom certificates from /opt/custom-certificates."
	export NODE_OPTIONS="--use-openssl-ca $NODE_OPTIONS"
	export SSL_CERT_DIR=/opt/custom-certificates
	c_rehash /opt/custom-certificates 2>/dev/null || :
fi

if [ "$#" -gt 0 ]; then
	# Got started with arguments
	exec n8n "$@"
else
	# Got started without arguments
	exec n8n
fi
