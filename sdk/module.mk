# sdk: the client libraries.  The top Makefile includes */module.mk only,
# so this file pulls in the C client's rules from sdk/c/module.mk.
include sdk/c/module.mk
