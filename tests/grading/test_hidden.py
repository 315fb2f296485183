"""Reasons for failed hidden checks are built from grader-held text, with typed values only."""

from labkit_course.grading.hidden import StudentCell, check_reason, frames, raised_in, typed_value

TEST = '''"""zeros are counted."""
t = torch.arange(1.0, 11.0)
### BEGIN HIDDEN TESTS
for numel, sparsity in [(25, 0.75), (100, 0.996)]:
    with lk.case(f"pruning {sparsity} of {numel} weights"):
        mask = fine_grained_prune(t, sparsity)
        want = round(sparsity * numel)
        assert int((t == 0).sum()) == want, (
            f"expected {want} zeros "
            "(use round())")
        torch.testing.assert_close(t, t, msg="expected the tensor pruned in place")
assert False
### END HIDDEN TESTS
'''
STUDENT = "def fine_grained_prune(t, s):\n    k = int(s * t.numel())\n    return t.abs() > t.kthvalue(k).values\n"
CELLS = {3: StudentCell(7, STUDENT)}


def tb(*frames_, note=None, last="AssertionError: x"):
    lines = ["\x1b[0;31m----\x1b[0m", "AssertionError     Traceback (most recent call last)"]
    for count, line in frames_:
        lines.append(f"\x1b[0;32mCell In[{count}], line {line}\x1b[0m")
        lines.append("      1 whatever the kernel says")
    lines.append(last)
    if note:
        lines.append(f"labkit case: {note}")
    return lines


def test_frames_are_read_outermost_first_without_colour_codes():
    assert frames(tb((12, 5), (3, 2))) == [(12, 5), (3, 2)]


def test_typed_values_are_short_numbers_shapes_dtypes_and_devices():
    for ok in ("17", "-3", "0.996", "1e-05", "93.5%", "(3, 4)", "torch.Size([64, 3, 3, 3])",
               "torch.float32", "bool", "cuda:0", "True"):
        assert typed_value(ok) == ok
    for bad in ("eJyLrlYqSk0vSS0uyczPU7JSMDQyrtWBAABXMQgG", "hello", "12345678901234567890",
                "1, secret", "[1, 2, 3, 4, 5, 6, 7, 8]"):
        assert typed_value(bad) is None


def test_a_failed_assert_gives_its_message_with_typed_values_only():
    err = {"ename": "AssertionError", "evalue": "expected 17 zeros (use round())",
           "traceback": tb((12, 8), note="pruning 0.996 of 100 weights")}
    assert check_reason(err, TEST, 12, CELLS) == (
        "a hidden check failed in the hidden case pruning 0.996 of 100 weights: "
        "expected 17 zeros (use round())")


def test_a_forged_message_cannot_carry_text_into_the_reason():
    secret = "eJyLrlYqSk0vSS0uyczPU7JSMDQyrtWBAABXMQgG"
    err = {"ename": "AssertionError", "evalue": f"expected {secret} zeros (use round())",
           "traceback": tb((12, 8), note=f"pruning {secret} of 100 weights")}
    reason = check_reason(err, TEST, 12, CELLS)
    assert secret not in reason and reason == "a hidden check failed: expected … zeros (use round())"


def test_a_msg_argument_is_the_message_of_its_check_not_of_another():
    err = {"ename": "AssertionError", "evalue": "whatever", "traceback": tb((12, 11))}
    assert check_reason(err, TEST, 12, CELLS) == "a hidden check failed: expected the tensor pruned in place"


def test_an_assert_without_message_names_no_other_check():
    err = {"ename": "AssertionError", "evalue": "", "traceback": tb((12, 12))}
    assert check_reason(err, TEST, 12, CELLS) == "a hidden check failed (AssertionError)"


def test_an_error_in_the_students_code_names_its_cell_line_and_case():
    err = {"ename": "IndexError", "evalue": "index 100 is out of bounds: leaked text",
           "traceback": tb((12, 6), (3, 3), note="pruning 0.996 of 100 weights")}
    reason = check_reason(err, TEST, 12, CELLS)
    assert reason == ("IndexError raised in your code in the hidden case pruning 0.996 of 100 weights "
                      "(cell 7, line 3: `return t.abs() > t.kthvalue(k).values`)")
    assert "leaked" not in reason


def test_an_exception_class_of_the_students_own_naming_is_not_shown():
    err = {"ename": "eJyLrlYqSk0vSS0u", "evalue": "", "traceback": tb((12, 6), (3, 2))}
    assert check_reason(err, TEST, 12, CELLS).startswith("an exception raised in your code")


def test_tampering_and_timeouts_have_fixed_reasons():
    assert "monkeypatch" in check_reason({"ename": "TamperingError", "evalue": "x"}, TEST, 12, CELLS)
    assert "time limit" in check_reason({"ename": "CellTimeoutError"}, TEST, 12, CELLS)


def test_raised_in_points_at_the_students_line_only():
    assert raised_in(tb((12, 6), (3, 2)), CELLS) == "cell 7, line 2: `k = int(s * t.numel())`"
    assert raised_in(tb((3, 2), (12, 6)), CELLS) == ""
