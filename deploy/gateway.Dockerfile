# The gateway: Starlette + uvicorn, no torch and no model weights (it never runs a model).
#   docker build -f deploy/gateway.Dockerfile -t facegate-gateway .
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONUNBUFFERED=1 FACEGATE_HOST=0.0.0.0 FACEGATE_PORT=8080
COPY requirements/gateway.txt ./requirements/gateway.txt
RUN pip install --no-cache-dir -r requirements/gateway.txt
COPY pyproject.toml ./
COPY shared ./shared
COPY services ./services
COPY gateway ./gateway
COPY workers ./workers
RUN pip install --no-cache-dir --no-deps .
USER 65534
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/readyz', timeout=4)"
# uvicorn finishes requests in flight on SIGTERM before it exits
CMD ["python", "-m", "services.cli.main", "gateway"]
