"""`kmimg classify` as a user runs it: folders, outputs, links, labels, errors, exit codes,
and the seed's digits experiment end to end."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from kmimg.cli import app
from kmimg.render.montage import EMPTY_FRAME

runner = CliRunner()

#: The seed tutorial's figure: "Accuracy of KMeans based classification = 0.79020589872".
SEED_ACCURACY = 0.79


def run(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["classify", *args])


def shape_image(kind: int, rng: np.random.Generator, size: int) -> np.ndarray:
    """A noisy picture of one of three kinds: a horizontal bar, a vertical bar, a red square."""
    image = rng.integers(0, 40, (size, size, 3)).astype(np.uint8)
    third = size // 3
    if kind == 0:
        image[third : 2 * third, :] = 230
    elif kind == 1:
        image[:, third : 2 * third] = 230
    else:
        image[third : 2 * third, third : 2 * third] = (230, 20, 20)
    return image


@pytest.fixture
def shapes(tmp_path: Path) -> Path:
    """12 images, 4 of each kind, of various sizes, with a labels.csv naming their kind."""
    rng = np.random.default_rng(1)
    folder = tmp_path / "shapes"
    folder.mkdir()
    rows = ["file,label"]
    for index in range(12):
        kind = index % 3
        name = f"img{index:02d}.png"
        Image.fromarray(shape_image(kind, rng, 24 + 3 * index)).save(folder / name)
        rows.append(f"{name},{['horizontal', 'vertical', 'square'][kind]}")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    return folder


def clusters_of(document: dict) -> dict[str, int]:  # type: ignore[type-arg]
    return {Path(r["input"]).name: r["cluster"] for r in document["results"]}


# ----------------------------------------------------------------------------- the seed's digits


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """scikit-learn's 1,797 8x8 digits as grey PNGs (0..16 scaled to 0..255) plus labels.csv."""
    from sklearn.datasets import load_digits

    data = load_digits()
    folder = tmp_path_factory.mktemp("digits")
    pixels = np.rint(data.images * (255.0 / 16.0)).astype(np.uint8)
    rows = ["file,label"]
    for index, (image, label) in enumerate(zip(pixels, data.target, strict=True)):
        name = f"{index:04d}.png"
        Image.fromarray(image).save(folder / name)
        rows.append(f"{name},{label}")
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    return folder


def test_digits_accuracy_matches_the_seed(digits: Path, tmp_path: Path) -> None:
    summary = tmp_path / "digits.json"
    table = tmp_path / "digits.csv"
    montage = tmp_path / "centres.png"
    result = run(
        str(digits),
        "-k",
        "10",
        "--seed",
        "0",
        "-j",
        "1",
        "--labels",
        str(digits / "labels.csv"),
        "--json",
        str(summary),
        "--csv",
        str(table),
        "--montage",
        str(montage),
        "--members",
        "0",
    )
    assert result.exit_code == 0, result.output
    document = json.loads(summary.read_text())
    assert document["images"] == 1797
    assert document["feature_length"] == 64
    evaluation = document["evaluation"]
    assert evaluation["labelled"] == 1797
    assert evaluation["classes"] == 10
    # Measured with seed 0: accuracy 0.7919, ARI 0.6657, NMI 0.7425 (seed tutorial: 0.790).
    assert abs(evaluation["accuracy"] - SEED_ACCURACY) < 0.03
    assert 0.6 < evaluation["adjusted_rand_index"] < 0.75
    assert 0.68 < evaluation["normalized_mutual_information"] < 0.8
    # Every digit but (at most) one or two is the majority of some cluster.
    assert len(set(evaluation["mapping"].values())) >= 8
    assert f"accuracy {evaluation['accuracy']:.4f}" in result.stderr
    assert sum(c["size"] for c in document["clusters"]) == 1797
    rows = list(csv.DictReader(io.StringIO(table.read_text())))
    assert len(rows) == 1797
    assert set(rows[0]) == {"file", "cluster", "distance", "label", "predicted"}
    correct = sum(row["label"] == row["predicted"] for row in rows)
    assert correct / 1797 == pytest.approx(evaluation["accuracy"], abs=1e-6)
    with Image.open(montage) as image:
        assert image.format == "PNG"
        assert image.width > 5 * 64
        assert image.height > 2 * 64


def test_digits_in_batches_stay_near_kmeans_and_any_jobs_gives_the_same(digits: Path, tmp_path: Path) -> None:
    """--batch-size 1024: MiniBatchKMeans fed 1,024 vectors at a time (docs/classify.md has the
    figures: seed 0 gives 0.7919, KMeans 0.7919); -j 1 and -j 2 give the same bytes."""
    found = {}
    for jobs in ("1", "2"):
        summary, table = tmp_path / f"j{jobs}.json", tmp_path / f"j{jobs}.csv"
        result = run(
            *[str(digits), "-k", "10", "--seed", "0", "--batch-size", "1024", "-j", jobs],
            *["--labels", str(digits / "labels.csv"), "--json", str(summary), "--csv", str(table)],
        )
        assert result.exit_code == 0, result.output
        found[jobs] = json.loads(summary.read_text()), table.read_bytes()
    document, rows = found["1"]
    assert rows == found["2"][1]
    document.pop("seconds"), found["2"][0].pop("seconds")
    assert document == found["2"][0]
    assert document["options"]["batch_size"] == 1024
    assert abs(document["evaluation"]["accuracy"] - SEED_ACCURACY) < 0.03
    assert sum(c["size"] for c in document["clusters"]) == 1797


def test_batch_size_below_k_is_a_usage_error(shapes: Path) -> None:
    result = run(str(shapes), "-k", "3", "--batch-size", "2")
    assert result.exit_code == 2
    assert result.stderr == "kmimg: error: --batch-size 2 is below -k 3: every batch must hold k vectors\n"


def test_batches_of_shapes_find_the_three_kinds_and_a_failure_is_skipped(
    shapes: Path, tmp_path: Path
) -> None:
    (shapes / "broken.png").write_text("not an image")
    summary = tmp_path / "s.json"
    result = run(
        str(shapes), "-k", "3", "--batch-size", "4", "--standardize", "--json", str(summary), "-j", "2"
    )
    assert result.exit_code == 1
    document = json.loads(summary.read_text())
    assert document["images"] == 12
    assert [Path(f["input"]).name for f in document["failures"]] == ["broken.png"]
    kinds: dict[int, set[int]] = {}
    for name, cluster in clusters_of(document).items():
        kinds.setdefault(int(name[3:5]) % 3, set()).add(cluster)
    assert all(len(clusters) == 1 for clusters in kinds.values()), kinds
    assert len({next(iter(c)) for c in kinds.values()}) == 3


# ----------------------------------------------------------------------------- outputs


def test_help_has_an_example() -> None:
    result = run("--help")
    assert result.exit_code == 0
    assert "Example: kmimg classify" in result.output


def test_shapes_grouped_with_json_and_labels(shapes: Path, tmp_path: Path) -> None:
    summary = tmp_path / "out.json"
    result = run(
        str(shapes), "-k", "3", "--labels", str(tmp_path / "labels.csv"), "--json", str(summary), "-j", "1"
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == ""  # --json given: no CSV on standard output
    document = json.loads(summary.read_text())
    assert document["schema"] == "kmimg.classify"
    assert document["schema_version"] == 2
    assert document["options"] == {
        "k": 3,
        "seed": 0,
        "n_init": 10,
        "standardize": False,
        "features": "pixels",
        "size": [8, 8],
        "color": False,
        "bins": None,
        "batch_size": None,
    }
    assert document["evaluation"]["accuracy"] == 1.0
    assert document["evaluation"]["adjusted_rand_index"] == pytest.approx(1.0)
    assert document["failures"] == []
    assert [c["size"] for c in document["clusters"]] == [4, 4, 4]
    groups = clusters_of(document)
    for index in range(3, 12):
        assert groups[f"img{index:02d}.png"] == groups[f"img{index % 3:02d}.png"]
    assert all(r["distance"] >= 0 for r in document["results"])
    assert {r["label"] for r in document["results"]} == {"horizontal", "vertical", "square"}


def test_default_output_is_csv_on_stdout(shapes: Path) -> None:
    result = run(str(shapes), "-k", "3", "-j", "1")
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == ["file", "cluster", "distance"]
    assert len(rows) == 13
    assert {row[1] for row in rows[1:]} == {"0", "1", "2"}
    assert result.stderr == ""


def test_same_seed_same_output_any_jobs(shapes: Path) -> None:
    first = run(str(shapes), "-k", "4", "--seed", "7", "--json", "-", "-j", "1")
    second = run(str(shapes), "-k", "4", "--seed", "7", "--json", "-", "-j", "2")
    assert first.exit_code == second.exit_code == 0
    one, two = json.loads(first.stdout), json.loads(second.stdout)
    assert one["results"] == two["results"]
    assert one["clusters"] == two["clusters"]
    assert one["inertia"] == two["inertia"]


def test_colour_histogram_on_sample_photos(samples: Path, tmp_path: Path) -> None:
    montage = tmp_path / "photos.png"
    result = run(
        str(samples),
        "-k",
        "3",
        "--features",
        "histogram",
        "--montage",
        str(montage),
        "--json",
        "-",
        "-j",
        "1",
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["feature_length"] == 64
    assert document["options"]["bins"] == 4
    assert document["options"]["size"] is None
    assert document["images"] == 6
    assert document["evaluation"] is None
    with Image.open(montage) as image:
        assert image.height > 3 * 64  # one line per cluster with members


def test_colour_pixels_and_standardize(shapes: Path) -> None:
    result = run(
        str(shapes), "-k", "3", "--color", "--size", "6x4", "--standardize", "--json", "-", "-j", "1"
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["feature_length"] == 6 * 4 * 3
    assert document["options"]["standardize"] is True
    assert sorted(c["size"] for c in document["clusters"]) == [4, 4, 4]


# ----------------------------------------------------------------------------- links


def test_link_dir_symlinks_one_folder_per_cluster(shapes: Path, tmp_path: Path) -> None:
    links = tmp_path / "groups"
    result = run(str(shapes), "-k", "3", "--link-dir", str(links), "--json", "-", "-j", "1")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert sorted(p.name for p in links.iterdir()) == ["cluster-0", "cluster-1", "cluster-2"]
    for record in document["results"]:
        link = Path(record["link"])
        assert link.parent.name == f"cluster-{record['cluster']}"
        assert link.is_symlink()
        assert link.resolve() == Path(record["input"]).resolve()
    # A rerun finds its own links: nothing clobbered, nothing to report.
    again = run(str(shapes), "-k", "3", "--link-dir", str(links), "-j", "1", "-q")
    assert again.exit_code == 0, again.output
    assert again.stderr == ""


def test_link_dir_never_clobbers_without_force(shapes: Path, tmp_path: Path) -> None:
    links = tmp_path / "groups"
    first = run(str(shapes), "-k", "3", "--link-dir", str(links), "--json", "-", "-j", "1")
    target = Path(json.loads(first.stdout)["results"][0]["link"])
    target.unlink()
    target.write_bytes(b"precious")
    result = run(str(shapes), "-k", "3", "--link-dir", str(links), "-j", "1", "-q")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"kmimg: error: {shapes / 'img00.png'}: output {target} exists (use --force to overwrite)"
    )
    assert target.read_bytes() == b"precious"
    forced = run(str(shapes), "-k", "3", "--link-dir", str(links), "-j", "1", "-q", "--force")
    assert forced.exit_code == 0, forced.output
    assert target.is_symlink()


def test_copy_places_identical_files(shapes: Path, tmp_path: Path) -> None:
    copies = tmp_path / "copies"
    result = run(str(shapes), "-k", "3", "--link-dir", str(copies), "--copy", "--json", "-", "-j", "1")
    assert result.exit_code == 0, result.output
    for record in json.loads(result.stdout)["results"]:
        placed = Path(record["link"])
        assert not placed.is_symlink()
        assert placed.read_bytes() == Path(record["input"]).read_bytes()


def test_recursive_same_names_get_distinct_links(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    for folder in ("a", "b"):
        (tmp_path / "in" / folder).mkdir(parents=True)
        Image.fromarray(shape_image(0, rng, 20)).save(tmp_path / "in" / folder / "x.png")
    result = run(str(tmp_path / "in"), "-r", "-k", "1", "--link-dir", str(tmp_path / "out"), "-j", "1")
    assert result.exit_code == 0, result.output
    assert sorted(os.listdir(tmp_path / "out" / "cluster-0")) == ["a__x.png", "b__x.png"]


def test_a_folder_holding_only_its_own_links_is_named(tmp_path: Path) -> None:
    links = tmp_path / "in" / "groups"
    (links / "cluster-0").mkdir(parents=True)
    Image.new("RGB", (4, 4)).save(tmp_path / "elsewhere.png")
    (links / "cluster-0" / "elsewhere.png").symlink_to(tmp_path / "elsewhere.png")
    result = run(str(tmp_path / "in"), "-r", "-k", "1", "--link-dir", str(links))
    assert result.exit_code == 2
    assert result.stderr == (
        f"kmimg: error: {tmp_path / 'in'}: no images (other than the links in --link-dir {links})\n"
    )


# ----------------------------------------------------------------------------- errors


def test_bad_files_are_reported_and_skipped(shapes: Path) -> None:
    (shapes / "broken.png").write_bytes(b"not an image")
    (shapes / "empty.jpg").write_bytes(b"")
    result = run(str(shapes), "-k", "3", "--json", "-", "-j", "1")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    # One line per bad file, in input order (the reason's wording belongs to kmimg.io).
    assert len(lines) == 2
    assert lines[0].startswith(f"kmimg: error: {shapes / 'broken.png'}: ")
    assert "image" in lines[0]
    assert lines[1].startswith(f"kmimg: error: {shapes / 'empty.jpg'}: ")
    assert "empty" in lines[1]
    document = json.loads(result.stdout)
    assert document["images"] == 12
    assert [f["input"] for f in document["failures"]] == [
        str(shapes / "broken.png"),
        str(shapes / "empty.jpg"),
    ]


def test_fewer_images_than_clusters(shapes: Path) -> None:
    result = run(str(shapes / "img00.png"), str(shapes / "img01.png"), "-k", "3", "-j", "1")
    assert result.exit_code == 1
    assert result.stderr.strip() == "kmimg: error: 2 images read, fewer than -k 3"


def test_identical_images_warn_about_empty_clusters(tmp_path: Path) -> None:
    for index in range(3):
        Image.new("RGB", (5, 5), (9, 9, 9)).save(tmp_path / f"same{index}.png")
    result = run(str(tmp_path), "-k", "2", "--json", "-", "-j", "1")
    assert result.exit_code == 0, result.output
    assert (
        "kmimg: warning: only 1 distinct feature vectors for 2 clusters: 1 clusters are empty"
        in result.stderr
    )
    assert [c["size"] for c in json.loads(result.stdout)["clusters"]] == [3, 0]


@pytest.mark.parametrize("members", ["0", "6"])
def test_montage_draws_no_centre_for_an_empty_cluster(members: str, tmp_path: Path) -> None:
    grey = (9, 9, 9)
    folder = tmp_path / "same"
    folder.mkdir()
    for index in range(3):
        Image.new("RGB", (8, 8), grey).save(folder / f"same{index}.png")
    pictures = {}
    for k in ("1", "2"):  # the same three images in one cluster, then with an empty second one
        montage = tmp_path / f"k{k}.png"
        result = run(str(folder), "-k", k, "--montage", str(montage), "--members", members, "-j", "1")
        assert result.exit_code == 0, result.output
        with Image.open(montage) as image:
            pictures[k] = np.asarray(image.convert("RGB"))
    # The grey of the images appears only in the one real centre (and its members): the empty
    # cluster adds no picture, only its empty frame.
    grey_pixels = {k: int((picture == grey).all(axis=2).sum()) for k, picture in pictures.items()}
    assert grey_pixels["2"] == grey_pixels["1"] > 0
    assert not (pictures["1"] == EMPTY_FRAME).all(axis=2).any()
    assert (pictures["2"] == EMPTY_FRAME).all(axis=2).any()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--copy"], "--copy needs --link-dir"),
        (["--csv", "-", "--json", "-"], "cannot both use standard output"),
    ],
)
def test_usage_errors(shapes: Path, args: list[str], message: str) -> None:
    result = run(str(shapes), "-k", "3", *args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_stdin_and_bad_size_are_usage_errors(shapes: Path) -> None:
    assert run("-").exit_code == 2
    bad = run(str(shapes), "--size", "0x4")
    assert bad.exit_code == 2
    assert "--size" in bad.output


def test_partial_and_unreadable_labels(shapes: Path, tmp_path: Path) -> None:
    partial = tmp_path / "partial.csv"
    partial.write_text("img00.png,horizontal\nimg01.png,vertical\nimg02.png,square\n")
    result = run(str(shapes), "-k", "3", "--labels", str(partial), "--json", "-", "-j", "1")
    assert result.exit_code == 0, result.output
    assert f"kmimg: warning: {partial}: no label for 9 of 12 images" in result.stderr
    evaluation = json.loads(result.stdout)["evaluation"]
    assert evaluation["labelled"] == 3
    assert evaluation["unlabelled"] == 9
    missing = run(str(shapes), "-k", "3", "--labels", str(tmp_path / "nope.csv"))
    assert missing.exit_code == 2
    broken = tmp_path / "broken.csv"
    broken.write_text("file,label\njust-one-column\n")
    bad = run(str(shapes), "-k", "3", "--labels", str(broken))
    assert bad.exit_code == 2
    assert f"kmimg: error: {broken}: line 2: expected 'file,label'" in bad.stderr


def test_a_file_with_two_labels_is_refused_before_any_image_is_read(
    shapes: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import kmimg.cli.classify as command

    def never(task: object) -> None:
        raise AssertionError("an image was read")

    monkeypatch.setattr(command, "features_of", never)
    twice = tmp_path / "twice.csv"
    twice.write_text("img00.png,horizontal\nimg01.png,vertical\nimg00.png,square\n")
    result = run(str(shapes), "-k", "3", "--labels", str(twice), "-j", "1")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"kmimg: error: {twice}: ")
    assert "two labels: 'horizontal' and 'square'" in result.stderr


def test_cluster_table_on_a_terminal(shapes: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import functools

    import kmimg.cli.frame as frame
    from kmimg.cli.frame import Reporter

    monkeypatch.setattr(frame, "Reporter", functools.partial(Reporter, interactive=True))
    result = run(str(shapes), "-k", "3", "--labels", str(tmp_path / "labels.csv"), "--json", "-", "-j", "1")
    assert result.exit_code == 0, result.output
    assert "mean distance" in result.stderr
    assert "horizontal" in result.stderr
    assert json.loads(result.stdout)["evaluation"]["accuracy"] == 1.0
    quiet = run(
        str(shapes), "-k", "3", "--labels", str(tmp_path / "labels.csv"), "-q", "--json", "-", "-j", "1"
    )
    assert quiet.stderr == ""


def test_link_dir_that_is_a_file_fails_once(shapes: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    assert run(str(shapes), "-k", "3", "--link-dir", str(blocker)).exit_code == 2  # Typer: not a folder
    result = run(str(shapes), "-k", "3", "--link-dir", str(blocker / "groups"), "-j", "1")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("kmimg: error: ")
    assert str(blocker) in lines[0]
    assert result.stdout == ""


def test_labels_are_matched_once_against_every_input(tmp_path: Path) -> None:
    # x.png names two inputs, so the bare name matches neither -- even when one of them turns
    # out unreadable and only one x.png is clustered (it used to give "two labels", exit 1).
    for folder, name in (("d1", "x.png"), ("d3", "y.png"), ("d3", "z.png")):
        (tmp_path / folder).mkdir(exist_ok=True)
        Image.new("RGB", (6, 6), (40 * len(name), 90, 9)).save(tmp_path / folder / name)
    (tmp_path / "d2").mkdir()
    (tmp_path / "d2" / "x.png").write_text("not an image")
    labels = tmp_path / "labels.csv"
    labels.write_text("x.png,a\nx.png,b\ny.png,c\n")
    inputs = [str(tmp_path / p) for p in ("d1/x.png", "d2/x.png", "d3/y.png", "d3/z.png")]
    result = run(*inputs, "-k", "2", "--labels", str(labels), "--json", "-", "-j", "1")
    assert result.exit_code == 1  # d2/x.png failed; the others were clustered
    assert "two labels" not in result.stderr
    evaluation = json.loads(result.stdout)["evaluation"]
    assert evaluation["labelled"] == 1  # y.png only
