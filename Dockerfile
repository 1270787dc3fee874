# The application image: worker and API (docker-compose runs both from it).
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
# Chromium prints the invoices' PDF copies (core/pdf.py); nothing else uses it.
RUN apt-get update && apt-get install -y --no-install-recommends chromium && rm -rf /var/lib/apt/lists/*
COPY requirements.lock pyproject.toml README.md ./
RUN pip install -r requirements.lock
COPY . .
RUN pip install --no-deps -e . && python -m compileall -q core domain models workflows activities adapters api starters workers sdisim devstack
EXPOSE 8000
CMD ["einvoice", "worker"]
