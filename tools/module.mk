# tools: manifests and the registry, argument checking and policies of tool
# calls, the built-in tools (the exact calculator), and the tools subsystem
# of aiosd (kern_subsys_tools).  Manifests live in tools/manifests/.
MODULES += tools
tools_SRCS := $(wildcard tools/*.c)
