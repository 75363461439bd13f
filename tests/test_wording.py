"""atlas.app.wording: messages that name the app's boxes and sliders, not flags."""

import pytest

import atlas.app
from atlas.app.stages import skipped
from atlas.app.wording import in_app


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("column 'x' (weights) is not in the file; its columns are: a, b. Fix --weight-col.",
         "column 'x' (weights) is not in the file; its columns are: a, b. Fix the “weight” box (Data → Columns)."),
        ("only 3 items are left after filtering; lower --min-item-users.", "only 3 items are left after filtering; lower “min users per item” (Filters)."),
        ("name the fields with --user-col/--item-col.", "name the fields with the “user” box (Data → Columns) or the “item” box (Data → Columns)."),
        ("--perplexity must be a number, got 'x'.", "“perplexity” (t-SNE) must be a number, got 'x'."),
        ("the INPUT path does not exist", "the interactions file does not exist"),
        ("--min-region-size must be at least 2.", "“min_region_size” (Regions and stable rebuilds) must be at least 2."),
        ("no export in that folder; fix --align-to.", "no export in that folder; fix the “align to a previous export” box (Regions and stable rebuilds)."),
        ("see 'atlas build --help'; --data-root DIR", "see 'atlas build --help'; --data-root DIR"),  # no box for these
        ("", ""),
    ],
)
def test_in_app_names_the_control(message, expected):
    assert in_app(message) == expected


def test_stage_errors_in_the_app_name_the_box():
    from atlas.errors import AtlasError

    def fails(_report):
        raise AtlasError("column 'stars' (weights) is not in the file. Fix --weight-col.")

    run = atlas.app.run_stage("data", fails, spinner=False)
    assert run.error == "column 'stars' (weights) is not in the file. Fix the “weight” box (Data → Columns)."
    assert "--" not in run.error
    assert atlas.app.why_no_layout([run]) == f"**data** failed — {run.error}"
    assert "earlier stage" in atlas.app.why_no_layout([skipped("UMAP")])
