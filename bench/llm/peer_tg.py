# peer_tg.py - llama.cpp decode rate through llama-cpp-python (one token per eval), for
# machines where the llama-bench build is not available; usage: peer_tg.py MODEL THREADS
import time, sys
from llama_cpp import Llama
llm = Llama(model_path=sys.argv[1], n_ctx=512, n_threads=int(sys.argv[2]), verbose=False)
res = []
for r in range(2):
    llm.reset(); t0 = time.perf_counter()
    for i in range(128): llm.eval([(i * 7919 + 13) % 49152])
    res.append(128 / (time.perf_counter() - t0))
print("llama tg128 t=%s %.2f (runs %s)" % (sys.argv[2], res[-1], ["%.1f" % x for x in res]))
