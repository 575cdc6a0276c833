"""A small Flask app for the interop tests (Debian's python3-flask)."""
import os

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.route("/")
def index():
    return jsonify(app="flask", pid=os.getpid())


@app.route("/items/<int:item>", methods=["GET", "PUT", "DELETE"])
def item(item):
    return jsonify(item=item, method=request.method, args=request.args.to_dict())


@app.route("/upload", methods=["POST"])
def upload():
    data = request.get_data()
    return jsonify(len=len(data), form=request.form.to_dict(), ctype=request.content_type)


@app.route("/headers")
def headers():
    return jsonify({k: v for k, v in request.headers.items()})


@app.route("/fail")
def fail():
    raise ValueError("flask view failed")
