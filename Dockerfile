# bulletin-qa: Python slim, CPU-only torch, the package, and the default embedding model
# converted at build time, so that a container never downloads anything.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    BULLETIN_QA_DATA=/data \
    BULLETIN_QA_CACHE=/opt/bulletin-qa/cache

WORKDIR /app

# CPU torch first, from PyTorch's CPU wheel index: the default wheel pulls gigabytes of
# CUDA libraries that a CPU-only server never uses.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
RUN pip install --index-url "$TORCH_INDEX_URL" torch==2.13.0

COPY pyproject.toml README.md ./
COPY retrieval ./retrieval
COPY bot ./bot
RUN pip install '.[milvus]' && python -m retrieval.convert && python -m retrieval.onnx_embed

# An unprivileged user; the host folder mounted on /data must be writable by uid 1000.
RUN useradd --uid 1000 --create-home bulletin && mkdir -p /data && chown bulletin /data
USER bulletin
VOLUME ["/data"]

ENTRYPOINT ["bulletin-qa"]
CMD ["bot"]
