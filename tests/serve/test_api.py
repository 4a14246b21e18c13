"""``genkit serve``'s JSON API through FastAPI's test client: every endpoint, and every bad input answered by a 4xx
JSON error naming its field, with nothing written anywhere in the run."""

from __future__ import annotations

import hashlib
import io
import json
import random
from pathlib import Path

import pytest
from PIL import Image
from serve_support import image_file

SAMPLE = {"prompt": "a red circle", "candidates": 3, "keep": 2, "seed": 1}
# the tiny run's stages.sample (and its seed); guidance and top_p are genkit sample's built-in defaults
DEFAULTS = {"candidates": 4, "keep": 2, "temperature": 0.9, "top_k": 20, "top_p": None, "guidance": 0.0, "seed": 3}


def tree_hashes(root: Path) -> dict[str, str]:
    files = (p for p in root.rglob("*") if p.is_file())
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def assert_error(response, status: int, field: str | None) -> dict:
    """A ``status`` JSON error: one line that names ``field`` (when one is at fault), and that field."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["field"] == field, body
    assert body["error"] and "\n" not in body["error"] and "Traceback" not in body["error"]
    if field is not None:
        assert field in body["error"], body
    return body


def decode_png(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    image.load()
    return image


# -- the page ----------------------------------------------------------------------------------------------------
def test_page_and_its_files_are_served_with_nothing_from_elsewhere(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for marker in ('id="prompt"', 'id="candidates"', 'id="top_p"', 'id="guidance"', 'id="cancel"', 'type="file"'):
        assert marker in page.text
    bodies = [page.text]
    for name, kind in (("app.js", "text/javascript"), ("style.css", "text/css")):
        response = client.get(f"/static/{name}")
        assert response.status_code == 200 and response.headers["content-type"].startswith(kind)
        bodies.append(response.text)
    for body in bodies:  # no CDN: every script, style and image comes from this server
        assert "//" not in "".join(line for line in body.splitlines() if "src=" in line or "href=" in line), body
        assert "http://" not in body and "https://" not in body
    assert client.get("/docs").status_code == 404  # Swagger UI would load from a CDN
    assert client.get("/redoc").status_code == 404


def test_openapi_schema_documents_every_operation(client):
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    for path in (
        "/api/info",
        "/api/recent",
        "/api/sample",
        "/api/sample/stream",
        "/api/complete",
        "/api/complete/stream",
        "/api/jobs/{job_id}",
        "/api/jobs/{job_id}/cancel",
        "/api/jobs/{job_id}/images/{rank}.png",
        "/api/jobs/{job_id}/grid.png",
    ):
        assert path in paths, path
    assert "429" in paths["/api/sample"]["post"]["responses"]
    assert set(schema["components"]["schemas"]["SampleRequest"]["properties"]) == {
        "prompt",
        "candidates",
        "keep",
        "temperature",
        "top_k",
        "top_p",
        "guidance",
        "seed",
    }
    assert "JobResult" in schema["components"]["schemas"]


# -- info and sampling ---------------------------------------------------------------------------------------------
def test_info_gives_the_runs_sampling_defaults_and_the_limits(client, run_dir):
    info = client.get("/api/info").json()
    assert info["run"] == run_dir.name and info["image_size"] == 16 and info["grid"] == [4, 4]
    assert info["reranker"] is True
    assert info["defaults"] == DEFAULTS
    assert info["limits"]["rows"] == [1, 3] and info["limits"]["queue"] == 8
    assert info["queue"]["waiting"] == 0 and info["queue"]["bound"] == 8


def test_sample_keeps_the_best_first_with_scores_and_downloadable_pngs(client):
    result = client.post("/api/sample", json=SAMPLE).json()
    assert result["prompt"] == "a red circle" and result["kind"] == "sample" and result["candidates"] == 3
    assert result["options"] == {**DEFAULTS, "candidates": 3, "keep": 2, "seed": 1}
    scores = [image["score"] for image in result["images"]]
    assert len(scores) == 2 and scores == sorted(scores, reverse=True)
    assert [image["rank"] for image in result["images"]] == [1, 2]
    assert len({image["candidate"] for image in result["images"]}) == 2
    for image in result["images"]:
        response = client.get(image["url"])
        assert response.status_code == 200 and response.headers["content-type"] == "image/png"
        assert decode_png(response.content).size == (16, 16)
    grid = client.get(result["grid_url"])
    assert grid.status_code == 200 and decode_png(grid.content).size[0] > 2 * 16
    state = client.get(f"/api/jobs/{result['id']}").json()
    assert state["state"] == "done" and state["result"] == result and state["position"] == -1
    assert state["done"] == state["total"] == 16
    assert client.get("/api/recent").json() == [result]


def test_same_request_same_pixels_and_the_seed_changes_them(client):
    def first_png(**changes):
        result = client.post("/api/sample", json={**SAMPLE, **changes}).json()
        return client.get(result["images"][0]["url"]).content

    assert first_png() == first_png()
    assert first_png() != first_png(seed=2)


def test_null_turns_a_filter_off_and_omitted_options_take_the_runs_defaults(client):
    result = client.post("/api/sample", json={"prompt": "  a blue square  ", "top_k": None}).json()
    assert result["prompt"] == "a blue square"
    assert result["options"] == {**DEFAULTS, "top_k": None}


def test_sample_stream_sends_queued_progress_then_the_result(client):
    with client.stream("POST", "/api/sample/stream", json=SAMPLE) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        text = response.read().decode()
    events = [
        (block.split("\n")[0].removeprefix("event: "), json.loads(block.split("\n")[1].removeprefix("data: ")))
        for block in text.strip().split("\n\n")
    ]
    names = [name for name, _ in events]
    assert names[0] == "queued" and names[-1] == "result" and set(names) <= {"queued", "progress", "result"}
    job_id = events[0][1]["id"]
    assert all(data["id"] == job_id for _, data in events)
    done = [data["done"] for name, data in events if name == "progress"]
    assert done == sorted(done) and all(data["total"] in (0, 16) for name, data in events if name == "progress")
    assert events[-1][1] == client.get(f"/api/jobs/{job_id}").json()["result"]


def test_complete_keeps_the_uploads_top_rows(client):
    data = {"prompt": "a red circle", "rows": "3", "candidates": "2", "keep": "1", "seed": "5"}
    result = client.post("/api/complete", data=data, files={"image": ("in.png", image_file(), "image/png")}).json()
    assert result["kind"] == "complete" and result["rows"] == 3 and result["candidates"] == 2
    assert result["options"] == {**DEFAULTS, "candidates": 2, "keep": 1, "seed": 5} and len(result["images"]) == 1
    assert decode_png(client.get(result["images"][0]["url"]).content).size == (16, 16)
    job = client.get(f"/api/jobs/{result['id']}").json()
    assert job["total"] == 4  # 16 positions, 12 kept from the upload


def test_off_turns_a_filter_off_in_a_form(client):
    data = {"prompt": "a red circle", "top_k": "off", "top_p": "0.9"}
    result = client.post("/api/complete", data=data, files={"image": ("in.png", image_file(), "image/png")}).json()
    assert (result["options"]["top_k"], result["options"]["top_p"]) == (None, 0.9)


def test_complete_defaults_to_half_the_grid_and_takes_jpeg_and_a_stream(client):
    files = {"image": ("in.jpg", image_file(format="JPEG"), "image/jpeg")}
    result = client.post("/api/complete", data={"prompt": "a red circle"}, files=files).json()
    assert result["rows"] == 2 and result["options"]["candidates"] == 4
    with client.stream("POST", "/api/complete/stream", data={"prompt": "a red circle"}, files=files) as response:
        text = response.read().decode()
    assert text.startswith("event: queued") and "event: result" in text


# -- bad input ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"prompt": "x" * 301}, "prompt"),
        ({"prompt": "   "}, "prompt"),
        ({"prompt": 7}, "prompt"),
        ({"candidates": 4}, "prompt"),
        ({**SAMPLE, "candidates": 257}, "candidates"),
        ({**SAMPLE, "candidates": 0}, "candidates"),
        ({**SAMPLE, "candidates": "3"}, "candidates"),
        ({**SAMPLE, "candidates": 2.5}, "candidates"),
        ({**SAMPLE, "candidates": True}, "candidates"),
        ({**SAMPLE, "keep": 4}, "keep"),
        ({**SAMPLE, "keep": 0}, "keep"),
        ({**SAMPLE, "temperature": 0}, "temperature"),
        ({**SAMPLE, "temperature": -1.5}, "temperature"),
        ({**SAMPLE, "temperature": "hot"}, "temperature"),
        ({**SAMPLE, "top_k": 0}, "top_k"),
        ({**SAMPLE, "top_p": 0}, "top_p"),
        ({**SAMPLE, "top_p": 1.5}, "top_p"),
        ({**SAMPLE, "guidance": -1}, "guidance"),
        ({**SAMPLE, "seed": -1}, "seed"),
        ({**SAMPLE, "seed": 2**64}, "seed"),
        ({**SAMPLE, "path": "../../etc/passwd"}, "path"),
    ],
)
def test_every_bad_sampling_field_is_a_422_naming_it(client, body, field):
    assert_error(client.post("/api/sample", json=body), 422, field)
    assert_error(client.post("/api/sample/stream", json=body), 422, field)


def test_a_non_finite_number_and_a_body_that_is_not_json(client):
    response = client.post(
        "/api/sample", content=b'{"prompt": "a", "temperature": NaN}', headers={"content-type": "application/json"}
    )
    assert_error(response, 422, "temperature")
    body = assert_error(
        client.post("/api/sample", content=b"{not json", headers={"content-type": "application/json"}), 422, None
    )
    assert body["error"].startswith("body:")
    assert client.get("/api/info").json()["queue"]["done"] == 0  # nothing bad was queued


def test_too_many_candidates_is_the_servers_limit(make_app):
    from fastapi.testclient import TestClient

    with TestClient(make_app(candidates=3)) as client:
        body = assert_error(client.post("/api/sample", json={**SAMPLE, "candidates": 4}), 422, "candidates")
        assert "3" in body["error"]
        assert client.get("/api/info").json()["defaults"]["candidates"] == 3  # the run's 4, capped


@pytest.mark.parametrize(
    ("upload", "data", "status", "field"),
    [
        (("notes.txt", b"hello, not an image", "text/plain"), {}, 415, "image"),
        (("fake.png", b"hello, not an image", "image/png"), {}, 415, "image"),
        (("cut.png", image_file()[:40], "image/png"), {}, 415, "image"),  # cut in its header: unrecognisable
        (("cut.png", image_file((64, 64), "white")[:-20], "image/png"), {}, 422, "image"),  # truncated at its end
        (("cut.jpg", image_file((64, 64), format="JPEG")[:300], "image/jpeg"), {}, 422, "image"),
        (("empty.png", b"", "image/png"), {}, 400, "image"),
        (("in.tiff", image_file(format="TIFF"), "image/tiff"), {}, 415, "image"),
        (("in.tiff", image_file(format="TIFF"), "application/octet-stream"), {}, 415, "image"),
        (("in.png", image_file(), "image/png"), {"rows": "0"}, 422, "rows"),
        (("in.png", image_file(), "image/png"), {"rows": "4"}, 422, "rows"),
        (("in.png", image_file(), "image/png"), {"rows": "two"}, 422, "rows"),
        (("in.png", image_file(), "image/png"), {"temperature": "0"}, 422, "temperature"),
        (("in.png", image_file(), "image/png"), {"top_k": "many"}, 422, "top_k"),
        (("in.png", image_file(), "image/png"), {"top_p": "1.5"}, 422, "top_p"),
        (("in.png", image_file(), "image/png"), {"seed": "-3"}, 422, "seed"),
        (("in.png", image_file(), "image/png"), {"candidates": "1000"}, 422, "candidates"),
        (("in.png", image_file(), "image/png"), {"keep": "9"}, 422, "keep"),
        (("in.png", image_file(), "image/png"), {"prompt": ""}, 422, "prompt"),
        (("in.png", image_file(), "image/png"), {"prompt": "y" * 301}, 422, "prompt"),
    ],
)
def test_every_bad_upload_or_completion_field_is_a_4xx_naming_it(client, upload, data, status, field):
    form = {"prompt": "a red circle", **data}
    assert_error(client.post("/api/complete", data=form, files={"image": upload}), status, field)
    assert_error(client.post("/api/complete/stream", data=form, files={"image": upload}), status, field)


def test_a_missing_image_or_prompt_is_named(client):
    assert_error(client.post("/api/complete", data={"prompt": "a red circle"}), 422, "image")
    files = {"image": ("in.png", image_file(), "image/png")}
    assert_error(client.post("/api/complete", files=files), 422, "prompt")


def test_oversized_uploads_are_413(make_app):
    from fastapi.testclient import TestClient

    noise = Image.frombytes("RGB", (64, 64), random.Random(0).randbytes(64 * 64 * 3))  # 12 kB whatever the codec
    buffer = io.BytesIO()
    noise.save(buffer, format="PNG")
    with TestClient(make_app(upload_bytes=2000, upload_pixels=32 * 32)) as client:

        def upload(data: bytes):
            return client.post("/api/complete", data={"prompt": "a red circle"}, files={"image": ("i.png", data)})

        # over the upload limit, within the body's: refused by its size before it is decoded
        assert "2,000" in assert_error(upload(buffer.getvalue()), 413, "image")["error"]
        # over the body's limit: refused before it is read whole
        assert_error(upload(b"\x89PNG" + b"\0" * (200 * 1024)), 413, "image")
        assert_error(client.post("/api/sample", json={"prompt": "x" * (200 * 1024)}), 413, "body")
        # a small file that declares too many pixels (a decompression bomb) is refused before it is decoded
        assert "40x40" in assert_error(upload(image_file((40, 40))), 413, "image")["error"]
        assert client.get("/api/info").json()["queue"]["done"] == 0


@pytest.mark.parametrize(
    "path",
    [
        "/static/..%2f..%2fpyproject.toml",
        "/static/%2e%2e%2f%2e%2e%2fpyproject.toml",
        "/static/..%5c..%5cpyproject.toml",
        "/static/index.html%00.png",
        "/static/%2fetc%2fpasswd",
        "/static/",
        "/../../pyproject.toml",
        "/api/jobs/..%2f..%2fexport%2fmodel_index.json",
        "/api/jobs/..%2f..%2fexport/images/1.png",
        "/api/jobs/0123456789abcdef0123456789abcdef/images/1.png",
        "/api/jobs/0123456789abcdef0123456789abcdef",
        "/api/jobs/%2e%2e/grid.png",
        "/export/model_index.json",
        "/recipe.resolved.yaml",
    ],
)
def test_no_request_path_reaches_a_file(client, run_dir, path):
    before = tree_hashes(run_dir)
    response = client.get(path)
    assert response.status_code == 404, (path, response.status_code, response.text[:200])
    assert response.json()["error"]
    assert "[build-system]" not in response.text and "root:" not in response.text and "tokenizer" not in response.text
    assert tree_hashes(run_dir) == before


def test_images_of_a_job_by_rank_only(client, run_dir):
    before = tree_hashes(run_dir)
    result = client.post("/api/sample", json={**SAMPLE, "prompt": "../../export/model_index.json"}).json()
    assert result["prompt"] == "../../export/model_index.json"  # a prompt is only text
    for rank in ("0", "3", "-1", "1.5", "..%2f1"):
        response = client.get(f"/api/jobs/{result['id']}/images/{rank}.png")
        assert response.status_code in (404, 422), (rank, response.status_code)
        assert response.json()["error"]
    assert tree_hashes(run_dir) == before  # serving writes nothing into the run


def test_unknown_job_cancel_is_404(client):
    assert_error(client.post("/api/jobs/0123456789abcdef0123456789abcdef/cancel"), 404, "job_id")
    assert_error(client.post("/api/jobs/not-a-job/cancel"), 404, "job_id")
