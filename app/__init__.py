"""The GourmetGram web app (Flask + gunicorn + onnxruntime); see app/app.py."""
