import pytest

from civicgrid.domain import hazards, textfeatures


def _detect(text: str) -> tuple[str, ...]:
    return hazards.detect(textfeatures.kept_clauses(text)[0])


@pytest.mark.parametrize(
    ("text", "hazard"),
    [
        ("小区门口那个井盖不知道被谁偷了，黑乎乎一个口子", "open_hole"),
        ("路边挖了个坑敞着，晚上根本看不见", "open_hole"),
        ("马路中间塌了一个大坑", "open_hole"),
        ("这条路上少了个井盖，电动车差点栽进去", "open_hole"),
        ("施工队把燃气管道挖断了", "damaged_gas_equipment"),
        ("路口的调压箱被车撞歪了", "damaged_gas_equipment"),
        ("厨房里一股液化气味，呛得很", "gas_smell"),
        ("楼下的网线耷拉下来，快碰到人头了", "fallen_cable"),
        ("电线杆被大货车撞歪了", "fallen_cable"),
        ("好几辆私家车停在消防通道上", "blocked_fire_lane"),
        ("商场的安全出口被锁住了", "blocked_fire_lane"),
        ("楼道里的灭火器早就过期了", "fire_equipment_out"),
        ("阳台上的花盆摇摇晃晃的", "falling_object"),
        ("外墙的瓷砖一块块往下掉", "falling_object"),
        ("两个人在楼下打起来了，有人受伤", "person_in_danger"),
        ("隔壁男的拿着刀在楼道里骂人", "person_in_danger"),
        ("他扬言要报复邻居", "group_conflict"),
        ("一群村民围堵在村委会门口", "group_conflict"),
    ],
)
def test_urgent_situations_are_recognised_by_their_description(text: str, hazard: str) -> None:
    assert hazard in _detect(text)


@pytest.mark.parametrize(
    "text",
    [
        "井盖已经盖好了",
        "井盖没丢，就是车压过去有点响",
        "电线没有裸露，就是有点乱",
        "燃气管道没破，是旁边的水管在漏水",
        "消防通道没被占，车都停在车位里",
        "灭火器没过期，上个月刚换的",
        "没有闻到液化气味",
        "网线不会掉下来，已经绑好了",
    ],
)
def test_a_denied_danger_raises_nothing(text: str) -> None:
    assert _detect(text) == ()


def test_a_hedged_danger_still_counts() -> None:
    assert "open_hole" in _detect("好像井盖被人偷了，也说不准")


def test_a_broken_thing_still_counts_as_a_problem_of_its_own() -> None:
    # A clause about a missing cover names the cover's category too, so it can be the second
    # problem of a report; a clause about a gas smell only names the danger.
    assert not hazards.mentioned("井盖被偷了")
    assert hazards.mentioned("闻到煤气味")


@pytest.mark.parametrize(
    ("text", "hazard"),
    [
        ("地下车库进水了，里面还有几个人在挪车", "people_in_flood"),
        ("下穿通道的水已经没过腰了", "people_in_flood"),
        ("小孩掉进河里了，快来人", "person_in_danger"),
        ("路灯杆漏电，有人被电到了", "exposed_wire"),
        ("楼道里充电的电动车着火了", "fire_or_smoke"),
        ("高压线断了掉在路上", "fallen_cable"),
    ],
)
def test_present_dangers_of_session_5_are_recognised(text: str, hazard: str) -> None:
    assert hazard in _detect(text)


@pytest.mark.parametrize(
    "text",
    [
        "万一着火了怎么办",  # feared, not happening
        "我担心花盆会掉下来砸到人",
        "以前起过一次火，现在没事",  # over
        "去年冒过烟",
        "整条巷子都被电动车堵了",  # 被电 is not an electric shock here
        "楼下有人给电瓶车充电，电线挂在外面",  # a charging lead, not an overhead line
        "屋里的电线像蜘蛛网一样挂在天花板上",  # indoor wiring
        "树叶一直往下掉，扫都扫不完",  # leaves hurt no-one
        "麻烦把挡窗户的树枝锯掉",  # a request to remove, nothing falling
        "河里水很脏，下面有人钓鱼",
    ],
)
def test_feared_past_and_look_alike_dangers_raise_nothing(text: str) -> None:
    assert _detect(text) == ()
