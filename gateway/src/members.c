/* members — the synthetic member database of a demo installation, and My Number check digits. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "cal.h"
#include "kana.h"
#include "members.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ---- the association's catalogs and Japan's geography: constant tables ---- */

/* The lists of names a member's name is drawn from. */
enum name_list {
	FAMILY,
	FEMALE, /* given names */
	MALE,
	NAME_LISTS
};

struct person_name {
	unsigned char list; /* enum name_list; the names of a list are adjacent */
	const char *kanji;
	const char *kana; /* katakana reading */
};

/* Family names roughly in order of frequency (the generator favours the head of that list),
 * then the female and the male given names. */
static const struct person_name person_names[] = {
    {FAMILY, "佐藤", "サトウ"},   {FAMILY, "鈴木", "スズキ"},   {FAMILY, "高橋", "タカハシ"},
    {FAMILY, "田中", "タナカ"},   {FAMILY, "伊藤", "イトウ"},   {FAMILY, "渡辺", "ワタナベ"},
    {FAMILY, "山本", "ヤマモト"}, {FAMILY, "中村", "ナカムラ"}, {FAMILY, "小林", "コバヤシ"},
    {FAMILY, "加藤", "カトウ"},   {FAMILY, "吉田", "ヨシダ"},   {FAMILY, "山田", "ヤマダ"},
    {FAMILY, "佐々木", "ササキ"}, {FAMILY, "山口", "ヤマグチ"}, {FAMILY, "松本", "マツモト"},
    {FAMILY, "井上", "イノウエ"}, {FAMILY, "木村", "キムラ"},   {FAMILY, "林", "ハヤシ"},
    {FAMILY, "斎藤", "サイトウ"}, {FAMILY, "清水", "シミズ"},   {FAMILY, "山崎", "ヤマザキ"},
    {FAMILY, "森", "モリ"},       {FAMILY, "池田", "イケダ"},   {FAMILY, "橋本", "ハシモト"},
    {FAMILY, "阿部", "アベ"},     {FAMILY, "石川", "イシカワ"}, {FAMILY, "山下", "ヤマシタ"},
    {FAMILY, "中島", "ナカジマ"}, {FAMILY, "石井", "イシイ"},   {FAMILY, "小川", "オガワ"},
    {FAMILY, "前田", "マエダ"},   {FAMILY, "岡田", "オカダ"},   {FAMILY, "長谷川", "ハセガワ"},
    {FAMILY, "藤田", "フジタ"},   {FAMILY, "後藤", "ゴトウ"},   {FAMILY, "近藤", "コンドウ"},
    {FAMILY, "村上", "ムラカミ"}, {FAMILY, "遠藤", "エンドウ"}, {FAMILY, "青木", "アオキ"},
    {FAMILY, "坂本", "サカモト"}, {FAMILY, "斉藤", "サイトウ"}, {FAMILY, "福田", "フクダ"},
    {FAMILY, "太田", "オオタ"},   {FAMILY, "西村", "ニシムラ"}, {FAMILY, "藤井", "フジイ"},
    {FAMILY, "金子", "カネコ"},   {FAMILY, "岡本", "オカモト"}, {FAMILY, "藤原", "フジワラ"},
    {FAMILY, "中野", "ナカノ"},   {FAMILY, "三浦", "ミウラ"},   {FAMILY, "原田", "ハラダ"},
    {FAMILY, "中川", "ナカガワ"}, {FAMILY, "松田", "マツダ"},   {FAMILY, "竹内", "タケウチ"},
    {FAMILY, "小野", "オノ"},     {FAMILY, "田村", "タムラ"},   {FAMILY, "中山", "ナカヤマ"},
    {FAMILY, "和田", "ワダ"},     {FAMILY, "石田", "イシダ"},   {FAMILY, "森田", "モリタ"},
    {FAMILY, "上田", "ウエダ"},   {FAMILY, "原", "ハラ"},       {FAMILY, "内田", "ウチダ"},
    {FAMILY, "柴田", "シバタ"},   {FAMILY, "酒井", "サカイ"},   {FAMILY, "宮崎", "ミヤザキ"},
    {FAMILY, "横山", "ヨコヤマ"}, {FAMILY, "高木", "タカギ"},   {FAMILY, "安藤", "アンドウ"},
    {FAMILY, "宮本", "ミヤモト"}, {FAMILY, "大野", "オオノ"},   {FAMILY, "小島", "コジマ"},
    {FAMILY, "谷口", "タニグチ"}, {FAMILY, "今井", "イマイ"},   {FAMILY, "工藤", "クドウ"},
    {FAMILY, "高田", "タカダ"},   {FAMILY, "増田", "マスダ"},   {FAMILY, "丸山", "マルヤマ"},
    {FAMILY, "杉山", "スギヤマ"}, {FAMILY, "村田", "ムラタ"},   {FAMILY, "大塚", "オオツカ"},
    {FAMILY, "新井", "アライ"},   {FAMILY, "小山", "コヤマ"},   {FAMILY, "平野", "ヒラノ"},
    {FAMILY, "藤本", "フジモト"}, {FAMILY, "河野", "コウノ"},   {FAMILY, "上野", "ウエノ"},
    {FAMILY, "野口", "ノグチ"},   {FAMILY, "武田", "タケダ"},   {FAMILY, "松井", "マツイ"},
    {FAMILY, "千葉", "チバ"},     {FAMILY, "岩崎", "イワサキ"}, {FAMILY, "菅原", "スガワラ"},
    {FAMILY, "木下", "キノシタ"}, {FAMILY, "久保", "クボ"},     {FAMILY, "佐野", "サノ"},
    {FAMILY, "野村", "ノムラ"},   {FAMILY, "松尾", "マツオ"},   {FAMILY, "市川", "イチカワ"},
    {FAMILY, "菊地", "キクチ"},   {FEMALE, "花子", "ハナコ"},   {FEMALE, "陽子", "ヨウコ"},
    {FEMALE, "恵子", "ケイコ"},   {FEMALE, "京子", "キョウコ"}, {FEMALE, "幸子", "サチコ"},
    {FEMALE, "和子", "カズコ"},   {FEMALE, "洋子", "ヨウコ"},   {FEMALE, "美智子", "ミチコ"},
    {FEMALE, "節子", "セツコ"},   {FEMALE, "久美子", "クミコ"}, {FEMALE, "由美子", "ユミコ"},
    {FEMALE, "真由美", "マユミ"}, {FEMALE, "裕子", "ユウコ"},   {FEMALE, "直美", "ナオミ"},
    {FEMALE, "智子", "トモコ"},   {FEMALE, "明美", "アケミ"},   {FEMALE, "恵美", "エミ"},
    {FEMALE, "純子", "ジュンコ"}, {FEMALE, "典子", "ノリコ"},   {FEMALE, "美穂", "ミホ"},
    {FEMALE, "香織", "カオリ"},   {FEMALE, "愛", "アイ"},       {FEMALE, "恵", "メグミ"},
    {FEMALE, "麻衣", "マイ"},     {FEMALE, "舞", "マイ"},       {FEMALE, "彩", "アヤ"},
    {FEMALE, "沙織", "サオリ"},   {FEMALE, "奈々", "ナナ"},     {FEMALE, "由佳", "ユカ"},
    {FEMALE, "美咲", "ミサキ"},   {FEMALE, "優子", "ユウコ"},   {FEMALE, "理恵", "リエ"},
    {FEMALE, "千尋", "チヒロ"},   {FEMALE, "友美", "トモミ"},   {FEMALE, "綾", "アヤ"},
    {FEMALE, "遥", "ハルカ"},     {FEMALE, "葵", "アオイ"},     {FEMALE, "結衣", "ユイ"},
    {FEMALE, "陽菜", "ヒナ"},     {FEMALE, "美優", "ミユ"},     {FEMALE, "さくら", "サクラ"},
    {FEMALE, "七海", "ナナミ"},   {FEMALE, "彩花", "アヤカ"},   {FEMALE, "美月", "ミヅキ"},
    {FEMALE, "杏", "アン"},       {FEMALE, "凛", "リン"},       {FEMALE, "結菜", "ユイナ"},
    {FEMALE, "芽依", "メイ"},     {FEMALE, "紬", "ツムギ"},     {FEMALE, "陽葵", "ヒマリ"},
    {FEMALE, "咲良", "サクラ"},   {FEMALE, "莉子", "リコ"},     {FEMALE, "心春", "コハル"},
    {FEMALE, "美桜", "ミオ"},     {FEMALE, "楓", "カエデ"},     {FEMALE, "桃子", "モモコ"},
    {FEMALE, "春香", "ハルカ"},   {FEMALE, "真理子", "マリコ"}, {FEMALE, "弘子", "ヒロコ"},
    {FEMALE, "悦子", "エツコ"},   {FEMALE, "文子", "フミコ"},   {FEMALE, "静香", "シズカ"},
    {FEMALE, "涼子", "リョウコ"}, {FEMALE, "由香", "ユカ"},     {FEMALE, "里美", "サトミ"},
    {FEMALE, "麻美", "アサミ"},   {FEMALE, "亜希子", "アキコ"}, {FEMALE, "朋子", "トモコ"},
    {FEMALE, "知美", "トモミ"},   {FEMALE, "雅子", "マサコ"},   {FEMALE, "紀子", "ノリコ"},
    {FEMALE, "和美", "カズミ"},   {FEMALE, "千晶", "チアキ"},   {FEMALE, "瞳", "ヒトミ"},
    {FEMALE, "加奈子", "カナコ"}, {FEMALE, "絵美", "エミ"},     {FEMALE, "沙也加", "サヤカ"},
    {FEMALE, "菜々子", "ナナコ"}, {FEMALE, "美紀", "ミキ"},     {FEMALE, "早紀", "サキ"},
    {FEMALE, "夏美", "ナツミ"},   {FEMALE, "亜美", "アミ"},     {FEMALE, "未来", "ミク"},
    {FEMALE, "美奈子", "ミナコ"}, {FEMALE, "佳奈", "カナ"},     {FEMALE, "萌", "モエ"},
    {FEMALE, "明日香", "アスカ"}, {FEMALE, "詩織", "シオリ"},   {FEMALE, "千夏", "チナツ"},
    {FEMALE, "美香", "ミカ"},     {FEMALE, "順子", "ジュンコ"}, {FEMALE, "敏子", "トシコ"},
    {FEMALE, "光子", "ミツコ"},   {FEMALE, "良子", "ヨシコ"},   {FEMALE, "栄子", "エイコ"},
    {FEMALE, "芳子", "ヨシコ"},   {FEMALE, "美和", "ミワ"},     {FEMALE, "直子", "ナオコ"},
    {FEMALE, "久子", "ヒサコ"},   {FEMALE, "和恵", "カズエ"},   {MALE, "太郎", "タロウ"},
    {MALE, "一郎", "イチロウ"},   {MALE, "健太", "ケンタ"},     {MALE, "翔太", "ショウタ"},
    {MALE, "大輔", "ダイスケ"},   {MALE, "誠", "マコト"},       {MALE, "健", "ケン"},
    {MALE, "浩", "ヒロシ"},       {MALE, "隆", "タカシ"},       {MALE, "茂", "シゲル"},
    {MALE, "実", "ミノル"},       {MALE, "清", "キヨシ"},       {MALE, "勇", "イサム"},
    {MALE, "博", "ヒロシ"},       {MALE, "修", "オサム"},       {MALE, "進", "ススム"},
    {MALE, "明", "アキラ"},       {MALE, "豊", "ユタカ"},       {MALE, "稔", "ミノル"},
    {MALE, "勝", "マサル"},       {MALE, "和夫", "カズオ"},     {MALE, "正", "タダシ"},
    {MALE, "秀樹", "ヒデキ"},     {MALE, "哲也", "テツヤ"},     {MALE, "達也", "タツヤ"},
    {MALE, "直樹", "ナオキ"},     {MALE, "和也", "カズヤ"},     {MALE, "拓也", "タクヤ"},
    {MALE, "健一", "ケンイチ"},   {MALE, "浩二", "コウジ"},     {MALE, "剛", "ツヨシ"},
    {MALE, "学", "マナブ"},       {MALE, "聡", "サトシ"},       {MALE, "亮", "リョウ"},
    {MALE, "大樹", "ダイキ"},     {MALE, "翔", "ショウ"},       {MALE, "拓海", "タクミ"},
    {MALE, "蓮", "レン"},         {MALE, "陸", "リク"},         {MALE, "悠真", "ユウマ"},
    {MALE, "湊", "ミナト"},       {MALE, "大翔", "ヒロト"},     {MALE, "陽翔", "ハルト"},
    {MALE, "悠人", "ユウト"},     {MALE, "颯太", "ソウタ"},     {MALE, "樹", "イツキ"},
    {MALE, "朝陽", "アサヒ"},     {MALE, "律", "リツ"},         {MALE, "陽太", "ヨウタ"},
    {MALE, "優斗", "ユウト"},     {MALE, "大和", "ヤマト"},     {MALE, "海斗", "カイト"},
    {MALE, "健二", "ケンジ"},     {MALE, "雄一", "ユウイチ"},   {MALE, "康弘", "ヤスヒロ"},
    {MALE, "正人", "マサト"},     {MALE, "俊介", "シュンスケ"}, {MALE, "慎也", "シンヤ"},
    {MALE, "雅之", "マサユキ"},   {MALE, "裕介", "ユウスケ"},   {MALE, "智之", "トモユキ"},
    {MALE, "賢治", "ケンジ"},     {MALE, "武", "タケシ"},       {MALE, "昭", "アキラ"},
    {MALE, "弘", "ヒロシ"},       {MALE, "義男", "ヨシオ"},     {MALE, "幸雄", "ユキオ"},
    {MALE, "光男", "ミツオ"},     {MALE, "英樹", "ヒデキ"},     {MALE, "信也", "シンヤ"},
    {MALE, "淳", "ジュン"},       {MALE, "亮介", "リョウスケ"}, {MALE, "圭", "ケイ"},
    {MALE, "航", "ワタル"},       {MALE, "駿", "シュン"},       {MALE, "悠斗", "ユウト"},
    {MALE, "奏太", "カナタ"},     {MALE, "颯", "ハヤテ"},       {MALE, "瑛太", "エイタ"},
    {MALE, "陽介", "ヨウスケ"},   {MALE, "崇", "タカシ"},       {MALE, "徹", "トオル"},
    {MALE, "功", "イサオ"},       {MALE, "一輝", "カズキ"},     {MALE, "祐介", "ユウスケ"},
    {MALE, "恭平", "キョウヘイ"}, {MALE, "涼太", "リョウタ"},   {MALE, "翼", "ツバサ"},
    {MALE, "翔平", "ショウヘイ"}, {MALE, "大介", "ダイスケ"},   {MALE, "隼人", "ハヤト"},
    {MALE, "諒", "リョウ"},       {MALE, "雄大", "ユウダイ"},   {MALE, "将太", "ショウタ"},
    {MALE, "誠一", "セイイチ"},   {MALE, "孝", "タカシ"},       {MALE, "秀夫", "ヒデオ"},
    {MALE, "敏夫", "トシオ"},     {MALE, "克也", "カツヤ"},     {MALE, "純一", "ジュンイチ"},
};

struct prefecture {
	const char *name;
	const char *area_code; /* landline area code of the prefectural capital */
	unsigned weight;       /* 2020 census population, in ten thousands */
};

static const struct prefecture prefectures[] = {
    {"北海道", "011", 522},   {"青森県", "017", 124},   {"岩手県", "019", 121},
    {"宮城県", "022", 230},   {"秋田県", "018", 96},    {"山形県", "023", 107},
    {"福島県", "024", 183},   {"茨城県", "029", 287},   {"栃木県", "028", 193},
    {"群馬県", "027", 194},   {"埼玉県", "048", 734},   {"千葉県", "043", 628},
    {"東京都", "03", 1405},   {"神奈川県", "045", 924}, {"新潟県", "025", 220},
    {"富山県", "076", 103},   {"石川県", "076", 113},   {"福井県", "0776", 77},
    {"山梨県", "055", 81},    {"長野県", "026", 205},   {"岐阜県", "058", 198},
    {"静岡県", "054", 363},   {"愛知県", "052", 754},   {"三重県", "059", 177},
    {"滋賀県", "077", 141},   {"京都府", "075", 258},   {"大阪府", "06", 884},
    {"兵庫県", "078", 547},   {"奈良県", "0742", 132},  {"和歌山県", "073", 92},
    {"鳥取県", "0857", 55},   {"島根県", "0852", 67},   {"岡山県", "086", 189},
    {"広島県", "082", 280},   {"山口県", "083", 134},   {"徳島県", "088", 72},
    {"香川県", "087", 95},    {"愛媛県", "089", 133},   {"高知県", "088", 69},
    {"福岡県", "092", 513},   {"佐賀県", "0952", 81},   {"長崎県", "095", 131},
    {"熊本県", "096", 174},   {"大分県", "097", 112},   {"宮崎県", "0985", 107},
    {"鹿児島県", "099", 159}, {"沖縄県", "098", 147},
};

#define MEMBERS_PREFECTURES 47
_Static_assert(NELEM(prefectures) == MEMBERS_PREFECTURES, "one entry per prefecture");

struct city {
	unsigned char pref; /* index into prefectures; a prefecture's cities are adjacent */
	const char *name;
	const char *zip3; /* the leading postal-code digits of the towns below */
	const char *towns[3];
};

static const struct city cities[] = {
    {0, "札幌市中央区", "060", {"北一条西", "大通西", "南三条西"}},
    {0, "札幌市北区", "001", {"北二十四条西", "麻生町", "北三十四条西"}},
    {0, "函館市", "040", {"五稜郭町", "本町", "若松町"}},
    {0, "旭川市", "070", {"宮下通", "常盤通", "神楽"}},
    {1, "青森市", "030", {"新町", "古川", "浜田"}},
    {1, "弘前市", "036", {"土手町", "城東", "代官町"}},
    {1, "八戸市", "031", {"番町", "十三日町", "小中野"}},
    {2, "盛岡市", "020", {"大通", "中央通", "菜園"}},
    {2, "花巻市", "025", {"材木町", "若葉町", "大通り"}},
    {2, "一関市", "021", {"大手町", "山目", "地主町"}},
    {3, "仙台市青葉区", "980", {"一番町", "国分町", "中央"}},
    {3, "仙台市宮城野区", "983", {"榴岡", "新田東", "鶴ケ谷"}},
    {3, "石巻市", "986", {"中央", "蛇田", "穀町"}},
    {4, "秋田市", "010", {"中通", "山王", "広面"}},
    {4, "横手市", "013", {"駅前町", "前郷", "平和町"}},
    {4, "大館市", "017", {"御成町", "有浦", "片町"}},
    {5, "山形市", "990", {"香澄町", "七日町", "小白川町"}},
    {5, "鶴岡市", "997", {"本町", "末広町", "馬場町"}},
    {5, "米沢市", "992", {"中央", "城南", "門東町"}},
    {6, "福島市", "960", {"栄町", "大町", "森合"}},
    {6, "郡山市", "963", {"駅前", "堤下町", "桑野"}},
    {6, "会津若松市", "965", {"栄町", "城東町", "中央"}},
    {7, "水戸市", "310", {"宮町", "南町", "千波町"}},
    {7, "つくば市", "305", {"吾妻", "竹園", "天久保"}},
    {7, "日立市", "317", {"幸町", "鮎川町", "弁天町"}},
    {8, "宇都宮市", "320", {"馬場通り", "本町", "大通り"}},
    {8, "小山市", "323", {"城山町", "中央町", "駅東通り"}},
    {8, "足利市", "326", {"通", "伊勢町", "本城"}},
    {9, "前橋市", "371", {"本町", "千代田町", "大手町"}},
    {9, "高崎市", "370", {"八島町", "連雀町", "栄町"}},
    {9, "太田市", "373", {"浜町", "東本町", "飯塚町"}},
    {10, "さいたま市大宮区", "330", {"桜木町", "大門町", "宮町"}},
    {10, "さいたま市浦和区", "330", {"高砂", "岸町", "常盤"}},
    {10, "川越市", "350", {"脇田町", "新富町", "仙波町"}},
    {10, "川口市", "332", {"栄町", "本町", "幸町"}},
    {10, "所沢市", "359", {"日吉町", "東町", "小手指町"}},
    {11, "千葉市中央区", "260", {"富士見", "中央", "新町"}},
    {11, "船橋市", "273", {"本町", "湊町", "宮本"}},
    {11, "柏市", "277", {"柏", "旭町", "明原"}},
    {11, "市川市", "272", {"八幡", "南八幡", "市川"}},
    {11, "松戸市", "271", {"松戸", "本町", "根本"}},
    {12, "千代田区", "100", {"丸の内", "有楽町", "内幸町"}},
    {12, "港区", "106", {"六本木", "麻布十番", "西麻布"}},
    {12, "渋谷区", "150", {"神宮前", "恵比寿", "代官山町"}},
    {12, "新宿区", "160", {"西新宿", "新宿", "歌舞伎町"}},
    {12, "世田谷区", "154", {"三軒茶屋", "太子堂", "下馬"}},
    {12, "目黒区", "153", {"中目黒", "上目黒", "目黒"}},
    {12, "杉並区", "166", {"阿佐谷南", "高円寺南", "和田"}},
    {12, "練馬区", "176", {"練馬", "豊玉北", "桜台"}},
    {12, "品川区", "141", {"大崎", "西五反田", "東五反田"}},
    {12, "文京区", "113", {"本郷", "湯島", "千駄木"}},
    {12, "大田区", "144", {"蒲田", "西蒲田", "羽田"}},
    {12, "八王子市", "192", {"明神町", "旭町", "横山町"}},
    {12, "武蔵野市", "180", {"吉祥寺本町", "中町", "境"}},
    {13, "横浜市中区", "231", {"山下町", "元町", "本町"}},
    {13, "横浜市西区", "220", {"みなとみらい", "高島", "北幸"}},
    {13, "横浜市青葉区", "225", {"美しが丘", "青葉台", "荏田西"}},
    {13, "川崎市中原区", "211", {"小杉町", "新丸子町", "木月"}},
    {13, "相模原市中央区", "252", {"相模原", "中央", "矢部"}},
    {13, "藤沢市", "251", {"藤沢", "鵠沼石上", "辻堂"}},
    {13, "鎌倉市", "248", {"雪ノ下", "小町", "御成町"}},
    {14, "新潟市中央区", "950", {"万代", "東大通", "弁天"}},
    {14, "長岡市", "940", {"大手通", "殿町", "城内町"}},
    {14, "上越市", "943", {"本町", "大町", "春日山町"}},
    {15, "富山市", "930", {"総曲輪", "新富町", "桜町"}},
    {15, "高岡市", "933", {"末広町", "守山町", "御旅屋町"}},
    {16, "金沢市", "920", {"香林坊", "片町", "広坂"}},
    {16, "小松市", "923", {"土居原町", "京町", "園町"}},
    {17, "福井市", "910", {"大手", "中央", "順化"}},
    {17, "敦賀市", "914", {"本町", "白銀町", "相生町"}},
    {18, "甲府市", "400", {"丸の内", "中央", "北口"}},
    {18, "富士吉田市", "403", {"上吉田", "下吉田", "松山"}},
    {19, "長野市", "380", {"南長野", "鶴賀", "大門町"}},
    {19, "松本市", "390", {"中央", "大手", "深志"}},
    {19, "上田市", "386", {"中央", "天神", "材木町"}},
    {20, "岐阜市", "500", {"神田町", "長住町", "金町"}},
    {20, "大垣市", "503", {"郭町", "高屋町", "本町"}},
    {20, "高山市", "506", {"花里町", "本町", "上三之町"}},
    {21, "静岡市葵区", "420", {"紺屋町", "呉服町", "追手町"}},
    {21, "浜松市中央区", "430", {"砂山町", "板屋町", "鍛冶町"}},
    {21, "沼津市", "410", {"大手町", "高島町", "通横町"}},
    {22, "名古屋市中区", "460", {"栄", "錦", "丸の内"}},
    {22, "名古屋市千種区", "464", {"今池", "覚王山通", "千種"}},
    {22, "豊田市", "471", {"小坂本町", "喜多町", "西町"}},
    {22, "岡崎市", "444", {"康生町", "伝馬通", "羽根町"}},
    {22, "一宮市", "491", {"本町", "栄", "新生"}},
    {23, "津市", "514", {"羽所町", "大門", "栄町"}},
    {23, "四日市市", "510", {"諏訪町", "安島", "鵜の森"}},
    {23, "伊勢市", "516", {"岩渕", "宮後", "本町"}},
    {24, "大津市", "520", {"京町", "浜大津", "打出浜"}},
    {24, "草津市", "525", {"西大路町", "渋川", "野路"}},
    {24, "彦根市", "522", {"京町", "本町", "旭町"}},
    {25, "京都市左京区", "606", {"下鴨", "吉田", "北白川"}},
    {25, "京都市伏見区", "612", {"深草", "桃山町", "竹田"}},
    {25, "宇治市", "611", {"宇治", "小倉町", "槇島町"}},
    {26, "大阪市北区", "530", {"梅田", "天満", "中之島"}},
    {26, "大阪市中央区", "542", {"難波", "心斎橋筋", "島之内"}},
    {26, "堺市堺区", "590", {"南瓦町", "大浜北町", "中瓦町"}},
    {26, "豊中市", "560", {"本町", "岡上の町", "新千里東町"}},
    {26, "吹田市", "564", {"片山町", "泉町", "朝日町"}},
    {27, "神戸市中央区", "650", {"三宮町", "元町通", "北野町"}},
    {27, "姫路市", "670", {"本町", "西二階町", "駅前町"}},
    {27, "西宮市", "663", {"甲子園口", "北口町", "高松町"}},
    {27, "尼崎市", "660", {"昭和通", "神田北通", "東難波町"}},
    {28, "奈良市", "630", {"三条本町", "大宮町", "東向中町"}},
    {28, "橿原市", "634", {"八木町", "内膳町", "久米町"}},
    {29, "和歌山市", "640", {"本町", "友田町", "美園町"}},
    {29, "田辺市", "646", {"湊", "新屋敷町", "東陽"}},
    {30, "鳥取市", "680", {"栄町", "末広温泉町", "富安"}},
    {30, "米子市", "683", {"角盤町", "朝日町", "皆生"}},
    {31, "松江市", "690", {"殿町", "朝日町", "学園"}},
    {31, "出雲市", "693", {"今市町", "塩冶町", "渡橋町"}},
    {32, "岡山市北区", "700", {"表町", "駅前町", "奉還町"}},
    {32, "倉敷市", "710", {"阿知", "中央", "鶴形"}},
    {33, "広島市中区", "730", {"紙屋町", "八丁堀", "大手町"}},
    {33, "福山市", "720", {"東桜町", "霞町", "船町"}},
    {33, "呉市", "737", {"中通", "本通", "宝町"}},
    {34, "山口市", "753", {"中市町", "湯田温泉", "道場門前"}},
    {34, "下関市", "750", {"竹崎町", "唐戸町", "豊前田町"}},
    {34, "宇部市", "755", {"常盤町", "新天町", "中央町"}},
    {35, "徳島市", "770", {"新町橋", "寺島本町西", "佐古一番町"}},
    {35, "鳴門市", "772", {"撫養町", "大津町", "鳴門町"}},
    {36, "高松市", "760", {"丸亀町", "兵庫町", "瓦町"}},
    {36, "丸亀市", "763", {"大手町", "本町", "通町"}},
    {37, "松山市", "790", {"大街道", "一番町", "湊町"}},
    {37, "今治市", "794", {"常盤町", "旭町", "北宝来町"}},
    {38, "高知市", "780", {"帯屋町", "はりまや町", "本町"}},
    {39, "福岡市中央区", "810", {"天神", "大名", "今泉"}},
    {39, "福岡市博多区", "812", {"博多駅前", "中洲", "祇園町"}},
    {39, "北九州市小倉北区", "802", {"魚町", "京町", "浅野"}},
    {39, "久留米市", "830", {"六ツ門町", "東町", "城南町"}},
    {40, "佐賀市", "840", {"松原", "白山", "唐人"}},
    {40, "唐津市", "847", {"京町", "大名小路", "西城内"}},
    {41, "長崎市", "850", {"浜町", "銅座町", "万才町"}},
    {41, "佐世保市", "857", {"島瀬町", "松浦町", "本島町"}},
    {42, "熊本市中央区", "860", {"下通", "上通町", "手取本町"}},
    {42, "八代市", "866", {"本町", "松江城町", "萩原町"}},
    {43, "大分市", "870", {"府内町", "中央町", "大手町"}},
    {43, "別府市", "874", {"北浜", "元町", "駅前町"}},
    {44, "宮崎市", "880", {"橘通西", "橘通東", "高千穂通"}},
    {44, "都城市", "885", {"中町", "栄町", "上町"}},
    {45, "鹿児島市", "892", {"東千石町", "山之口町", "中町"}},
    {45, "霧島市", "899", {"国分中央", "国分野口町", "隼人町内山田"}},
    {46, "那覇市", "900", {"久茂地", "松山", "牧志"}},
    {46, "沖縄市", "904", {"中央", "胡屋", "上地"}},
    {46, "浦添市", "901", {"仲間", "城間", "牧港"}},
};

/* Building names: "<prefix><town>" or "<word><suffix>", then the room number. */
static const char *const building_prefixes[] = {
    "メゾン", "コーポ", "パークハイツ", "グランドメゾン", "レジデンス", "エスポワール", "ヴィラ",
};
static const char *const building_words[] = {
    "桜", "緑", "若葉", "青葉", "白樺", "欅", "朝日", "ひかり", "さくら", "みどり",
};
static const char *const building_suffixes[] = {
    "ハイツ", "荘", "コート", "マンション", "ハイム", "レジデンス",
};

struct course {
	const char *code;
	const char *title;
};

/* Basics first: a member completes courses in catalog order. */
static const struct course courses[] = {
    {"MD101", "メゾンディレクトゥール基礎"},   {"IC110", "インテリアコーディネート入門"},
    {"LS120", "テーブルコーディネート"},       {"LS130", "フラワーアレンジメント基礎"},
    {"LS140", "整理収納とライフスタイル"},     {"MD201", "メゾンディレクトゥール応用"},
    {"IC210", "カラーコーディネート実践"},     {"IC220", "照明と空間演出"},
    {"LS230", "季節のしつらえと暮らしの行事"}, {"MD301", "メゾンディレクトゥール上級"},
};
#define MEMBERS_MAX_COURSES 4

/* Certification exams and the course that prepares for each. */
static const struct {
	const char *code;
	const char *course;
} certifications[] = {
    {"CMD1", "MD101"}, /* メゾンディレクトゥール検定 一次 */
    {"CIC1", "IC110"}, /* インテリアコーディネート検定 */
    {"CLS1", "LS120"}, /* テーブルコーディネート検定 */
    {"CMD2", "MD201"}, /* メゾンディレクトゥール検定 二次 */
    {"CCL2", "IC210"}, /* カラーコーディネート検定 */
    {"CMDM", "MD301"}, /* メゾンディレクトゥール マスター */
};
#define MEMBERS_MAX_CERTS 2

#define FIRST_YEAR 2005 /* the association's oldest membership records */
#define LAST_YEAR 2026
#define CONSENT_CONTRACT "CT-2026-0005" /* the demo third-party contract with consent */

/* ---- deterministic randomness: xoshiro256** seeded through splitmix64 ---- */

struct rng {
	uint64_t s[4];
};

static uint64_t
splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

static uint64_t
rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

/* One independent stream per member, so member k is the same whatever n is. */
static void
rng_seed(struct rng *r, uint64_t seed, uint64_t stream)
{
	uint64_t x = seed;
	uint64_t k = splitmix64(&x);
	x = k ^ (stream * 0xD1B54A32D192ED03ULL);
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&x);
}

static uint64_t
rng_next(struct rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

/* Uniform in [0, n), n > 0 (Lemire's multiply-shift; the bias is below 2^-32 for our n). */
static uint64_t
rng_below(struct rng *r, uint64_t n)
{
	assert(n > 0);
	return (uint64_t)(((unsigned __int128)rng_next(r) * n) >> 64);
}

/* True with probability permille / 1000. */
static int
rng_permille(struct rng *r, unsigned permille)
{
	return rng_below(r, 1000) < permille;
}

/* ---- dates as days since 1970-01-01 (cal.h) ---- */

static void
format_date(long days, char out[static 11])
{
	int y, m, d;
	cal_civil_from_days(days, &y, &m, &d);
	snprintf(out, 11, "%04d-%02u-%02u", y, (unsigned)m % 100, (unsigned)d % 100);
}

/* ---- My Number ---- */

/*
 * The check digit (0..9) of an individual number (個人番号) for its first eleven digits, by the
 * formula the 番号法 regulations prescribe (検査用数字): weights 2..7 then 2..6 from the right,
 * remainder of the sum mod 11, 0 if it is 0 or 1, else 11 - remainder. -1 unless eleven_digits is
 * exactly 11 ASCII digits.
 */
static int
members_my_number_check_digit(const char *eleven_digits)
{
	const char *s = eleven_digits;
	unsigned sum = 0;

	if (s == NULL)
		return -1;
	for (size_t i = 0; i < 11; i++)
		if (s[i] < '0' || s[i] > '9')
			return -1;
	if (s[11] != '\0')
		return -1;
	/* P_n is the n-th digit from the right of the eleven, Q_n its weight. */
	for (unsigned n = 1; n <= 11; n++) {
		unsigned p = (unsigned)(s[11 - n] - '0');
		unsigned q = n <= 6 ? n + 1 : n - 5;
		sum += p * q;
	}
	unsigned r = sum % 11;
	return r <= 1 ? 0 : (int)(11 - r);
}

#define MYNUM_SPACE 100000000000ULL /* 10^11 bodies of eleven digits */
#define FEISTEL_HALF 19             /* 2^38 > 10^11: walk the cycle until inside */
#define FEISTEL_MASK ((1ULL << FEISTEL_HALF) - 1)

/*
 * A keyed permutation of [0, 10^11): a four-round Feistel network on 38 bits with cycle
 * walking. Distinct members get distinct numbers without a table of the numbers used.
 */
static uint64_t
my_number_body(const uint64_t key[4], uint64_t index)
{
	uint64_t x = index;
	assert(index < MYNUM_SPACE);
	do {
		uint64_t l = x >> FEISTEL_HALF, r = x & FEISTEL_MASK;
		for (int i = 0; i < 4; i++) {
			uint64_t t = key[i] ^ r;
			uint64_t f = splitmix64(&t) & FEISTEL_MASK;
			uint64_t nl = r;
			r = l ^ f;
			l = nl;
		}
		x = (l << FEISTEL_HALF) | r;
	} while (x >= MYNUM_SPACE);
	return x;
}

/* ---- one member ---- */

/* Where a group of a table's entries starts, and how many there are: the entries of a group are
 * adjacent. */
struct run {
	size_t first, count;
};

struct gen {
	uint64_t seed;
	uint64_t mynum_key[4];
	int id_width;
	unsigned pref_total;                                   /* sum of the prefecture weights */
	struct run cities_of[MEMBERS_PREFECTURES];             /* in cities[] */
	struct run names_of[NAME_LISTS];                       /* in person_names[] */
	unsigned long cert_serial[LAST_YEAR - FIRST_YEAR + 1]; /* last serial issued per year */
};

/* Entry i of a table belongs to group k of n: it extends that group's run. */
static void
run_add(struct run *runs, size_t n, size_t k, size_t i)
{
	assert(k < n);
	(void)n;
	if (runs[k].count == 0)
		runs[k].first = i;
	assert(runs[k].first + runs[k].count == i); /* adjacent */
	runs[k].count++;
}

static void
gen_init(struct gen *g, unsigned long n, unsigned long seed)
{
	uint64_t x = seed ^ 0x6D795F6E756D6265ULL; /* a key apart from the member streams */
	unsigned long width_of = n;

	memset(g, 0, sizeof(*g));
	g->seed = seed;
	for (int i = 0; i < 4; i++)
		g->mynum_key[i] = splitmix64(&x);
	g->id_width = 1;
	while (width_of >= 10) {
		width_of /= 10;
		g->id_width++;
	}
	if (g->id_width < 7)
		g->id_width = 7;
	for (size_t i = 0; i < MEMBERS_PREFECTURES; i++)
		g->pref_total += prefectures[i].weight;
	for (size_t i = 0; i < NELEM(cities); i++)
		run_add(g->cities_of, MEMBERS_PREFECTURES, cities[i].pref, i);
	for (size_t i = 0; i < NELEM(person_names); i++)
		run_add(g->names_of, NAME_LISTS, person_names[i].list, i);
	for (size_t p = 0; p < MEMBERS_PREFECTURES; p++)
		assert(g->cities_of[p].count > 0);
	for (size_t l = 0; l < NAME_LISTS; l++)
		assert(g->names_of[l].count > 0);
}

/* A name of the list, the n-th (n below the list's length). */
static const struct person_name *
name_at(const struct gen *g, enum name_list list, uint64_t n)
{
	assert(n < g->names_of[list].count);
	return &person_names[g->names_of[list].first + n];
}

static size_t
pick_prefecture(const struct gen *g, struct rng *r)
{
	unsigned x = (unsigned)rng_below(r, g->pref_total);
	for (size_t i = 0; i < MEMBERS_PREFECTURES; i++) {
		if (x < prefectures[i].weight)
			return i;
		x -= prefectures[i].weight;
	}
	assert(0);
	return 0;
}

/* Collects the failures of json_object_set_new and friends, which consume the value anyway. */
struct jbuild {
	int ok;
};

static void
put(struct jbuild *b, json_t *obj, const char *key, json_t *value)
{
	if (json_object_set_new(obj, key, value) != 0)
		b->ok = 0;
}

static void
append(struct jbuild *b, json_t *arr, json_t *value)
{
	if (json_array_append_new(arr, value) != 0)
		b->ok = 0;
}

static json_t *
build_name(struct jbuild *b, const struct person_name *family, const struct person_name *given)
{
	json_t *o = json_object();
	put(b, o, "family", json_string(family->kanji));
	put(b, o, "given", json_string(given->kanji));
	put(b, o, "family_kana", json_string(family->kana));
	put(b, o, "given_kana", json_string(given->kana));
	return o;
}

static json_t *
build_address(struct jbuild *b, const struct gen *g, struct rng *r, size_t *pref_out)
{
	size_t p = pick_prefecture(g, r);
	const struct city *c = &cities[g->cities_of[p].first + rng_below(r, g->cities_of[p].count)];
	const char *town = c->towns[rng_below(r, NELEM(c->towns))];
	char postal[16], street[96], building[128];
	json_t *o = json_object();

	/* One draw per statement: the order of evaluating arguments is unspecified in C. */
	unsigned zip4 = (unsigned)rng_below(r, 9999) + 1;
	unsigned chome = (unsigned)rng_below(r, 5) + 1;
	unsigned ban = (unsigned)rng_below(r, 30) + 1;
	unsigned go = (unsigned)rng_below(r, 20) + 1;

	*pref_out = p;
	snprintf(postal, sizeof(postal), "%s-%04u", c->zip3, zip4);
	snprintf(street, sizeof(street), "%s%u-%u-%u", town, chome, ban, go);
	put(b, o, "postal_code", json_string(postal));
	put(b, o, "prefecture", json_string(prefectures[p].name));
	put(b, o, "city", json_string(c->name));
	put(b, o, "street", json_string(street));
	if (rng_permille(r, 450)) {
		/* Low-rise buildings are the common case; towers are the exception. */
		unsigned floor = rng_permille(r, 800) ? (unsigned)rng_below(r, 4) + 1
		                                      : (unsigned)rng_below(r, 20) + 5;
		unsigned room = (unsigned)rng_below(r, 10) + 1;
		if (rng_permille(r, 500)) {
			const char *prefix =
			    building_prefixes[rng_below(r, NELEM(building_prefixes))];
			snprintf(building, sizeof(building), "%s%s%u%02u", prefix, town, floor,
			         room);
		} else {
			const char *word = building_words[rng_below(r, NELEM(building_words))];
			const char *suffix =
			    building_suffixes[rng_below(r, NELEM(building_suffixes))];
			snprintf(building, sizeof(building), "%s%s%u%02u", word, suffix, floor,
			         room);
		}
		put(b, o, "building", json_string(building));
	} else {
		put(b, o, "building", json_null());
	}
	return o;
}

static void
make_phone(struct rng *r, size_t pref, char *out, size_t outlen)
{
	if (rng_permille(r, 850)) {
		static const char *const mobile[] = {"090", "090", "080", "080", "070"};
		const char *prefix = mobile[rng_below(r, NELEM(mobile))];
		unsigned a = (unsigned)rng_below(r, 9000) + 1000;
		unsigned b = (unsigned)rng_below(r, 10000);
		snprintf(out, outlen, "%s-%04u-%04u", prefix, a, b);
		return;
	}
	/* Ten digits in all; a subscriber number never starts with 0 or 1. */
	const char *area = prefectures[pref].area_code;
	unsigned line = (unsigned)rng_below(r, 10000);
	switch (strlen(area)) {
	case 2:
		snprintf(out, outlen, "%s-%04u-%04u", area, (unsigned)rng_below(r, 8000) + 2000,
		         line);
		break;
	case 3:
		snprintf(out, outlen, "%s-%03u-%04u", area, (unsigned)rng_below(r, 800) + 200,
		         line);
		break;
	default:
		assert(strlen(area) == 4);
		snprintf(out, outlen, "%s-%02u-%04u", area, (unsigned)rng_below(r, 80) + 20, line);
		break;
	}
}

static int
make_email(struct rng *r, const struct person_name *family, const struct person_name *given,
           int birth_year, char *out, size_t outlen)
{
	static const char *const domains[] = {"example.jp", "example.jp", "example.ne.jp",
	                                      "example.ne.jp", "example.com"};
	char f[48], g[48];
	const char *domain = domains[rng_below(r, NELEM(domains))];
	unsigned form = (unsigned)rng_below(r, 100);
	int n;

	if (kana_romanize(family->kana, f, sizeof(f)) != 0 ||
	    kana_romanize(given->kana, g, sizeof(g)) != 0)
		return -1;
	if (form < 25)
		n = snprintf(out, outlen, "%s.%s@%s", g, f, domain);
	else if (form < 45)
		n = snprintf(out, outlen, "%s.%s@%s", f, g, domain);
	else if (form < 60)
		n = snprintf(out, outlen, "%c.%s@%s", g[0], f, domain);
	else if (form < 75)
		n = snprintf(out, outlen, "%s%02d@%s", g, birth_year % 100, domain);
	else if (form < 88)
		n = snprintf(out, outlen, "%s_%s@%s", f, g, domain);
	else
		n = snprintf(out, outlen, "%s%c%03u@%s", g, f[0], (unsigned)rng_below(r, 1000),
		             domain);
	return n > 0 && (size_t)n < outlen ? 0 : -1;
}

static int
cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;
	return (x > y) - (x < y);
}

/* Courses and the certifications they lead to; both arrays come back in date order. */
static void
build_studies(struct jbuild *b, struct gen *g, struct rng *r, long joined, long last_day,
              json_t *course_arr, json_t *cert_arr)
{
	static const unsigned count_permille[MEMBERS_MAX_COURSES + 1] = {250, 350, 200, 120, 80};
	size_t idx[NELEM(courses)];
	long when[MEMBERS_MAX_COURSES];
	unsigned k = 0, x = (unsigned)rng_below(r, 1000);
	long first = joined + 30;
	char date[11], number[32];

	while (k < MEMBERS_MAX_COURSES && x >= count_permille[k])
		x -= count_permille[k++];
	if (first > last_day)
		k = 0;
	/* k distinct courses (partial Fisher-Yates), then back into catalog order. */
	for (size_t i = 0; i < NELEM(courses); i++)
		idx[i] = i;
	for (unsigned i = 0; i < k; i++) {
		size_t j = i + (size_t)rng_below(r, NELEM(courses) - i);
		size_t t = idx[i];
		idx[i] = idx[j];
		idx[j] = t;
	}
	for (unsigned i = 1; i < k; i++)
		for (unsigned j = i; j > 0 && idx[j - 1] > idx[j]; j--) {
			size_t t = idx[j];
			idx[j] = idx[j - 1];
			idx[j - 1] = t;
		}
	for (unsigned i = 0; i < k; i++)
		when[i] = first + (long)rng_below(r, (uint64_t)(last_day - first + 1));
	qsort(when, k, sizeof(when[0]), cmp_long);

	long issued[MEMBERS_MAX_CERTS];
	const char *cert_code[MEMBERS_MAX_CERTS];
	unsigned ncert = 0;
	for (unsigned i = 0; i < k; i++) {
		const struct course *c = &courses[idx[i]];
		json_t *o = json_object();
		format_date(when[i], date);
		put(b, o, "code", json_string(c->code));
		put(b, o, "title", json_string(c->title));
		put(b, o, "completed", json_string(date));
		append(b, course_arr, o);
		for (size_t j = 0; j < NELEM(certifications); j++) {
			if (strcmp(certifications[j].course, c->code) != 0)
				continue;
			/* Exams sit one to six months after the course. */
			long day = when[i] + 30 + (long)rng_below(r, 151);
			if (ncert < MEMBERS_MAX_CERTS && rng_permille(r, 550) && day <= last_day) {
				issued[ncert] = day;
				cert_code[ncert] = certifications[j].code;
				ncert++;
			}
		}
	}
	if (ncert == 2 && issued[1] < issued[0]) {
		long t = issued[0];
		const char *tc = cert_code[0];
		issued[0] = issued[1];
		cert_code[0] = cert_code[1];
		issued[1] = t;
		cert_code[1] = tc;
	}
	for (unsigned i = 0; i < ncert; i++) {
		int y, m, d;
		cal_civil_from_days(issued[i], &y, &m, &d);
		assert(y >= FIRST_YEAR && y <= LAST_YEAR);
		unsigned long serial = ++g->cert_serial[y - FIRST_YEAR];
		json_t *o = json_object();
		format_date(issued[i], date);
		snprintf(number, sizeof(number), "%04d-%05lu", y, serial);
		put(b, o, "code", json_string(cert_code[i]));
		put(b, o, "number", json_string(number));
		put(b, o, "issued", json_string(date));
		append(b, cert_arr, o);
	}
}

/* The record of member number `ordinal` (1-based), a new reference, or NULL if out of memory. */
static json_t *
member_record(struct gen *g, unsigned long ordinal, char *id, size_t idlen)
{
	struct jbuild b = {1};
	struct rng r;
	const long first_day = cal_days_from_civil(FIRST_YEAR, 1, 1);
	const long last_day = cal_days_from_civil(LAST_YEAR, 3, 31); /* the data's snapshot day */
	const long birth_lo = cal_days_from_civil(1940, 1, 1),
	           birth_hi = cal_days_from_civil(2007, 12, 31);
	char date[11], phone[24], email[160], url[96], hex[65], mynum[13];
	size_t pref;

	rng_seed(&r, g->seed, ordinal);
	snprintf(id, idlen, "M%0*lu", g->id_width, ordinal);

	/*
	 * Family names: half uniform, half the smaller of two draws, so the head of the list
	 * (佐藤, 鈴木, ...) is three times as common as its tail, as in the real distribution.
	 */
	uint64_t nf = g->names_of[FAMILY].count, fi = rng_below(&r, nf);
	if (rng_permille(&r, 500)) {
		uint64_t other = rng_below(&r, nf);
		if (other < fi)
			fi = other;
	}
	const struct person_name *family = name_at(g, FAMILY, fi);
	const char *gender;
	int female;
	unsigned gx = (unsigned)rng_below(&r, 1000);
	if (gx < 680) {
		gender = "female";
		female = 1;
	} else if (gx < 990) {
		gender = "male";
		female = 0;
	} else {
		gender = "unspecified";
		female = (int)rng_below(&r, 2);
	}
	enum name_list list = female ? FEMALE : MALE;
	const struct person_name *given = name_at(g, list, rng_below(&r, g->names_of[list].count));

	/* Dates: a triangular birth year distribution, joined once adult. */
	long span = birth_hi - birth_lo + 1;
	long birth =
	    birth_lo + (long)((rng_below(&r, (uint64_t)span) + rng_below(&r, (uint64_t)span)) / 2);
	int by, bm, bd;
	cal_civil_from_days(birth, &by, &bm, &bd);
	long adult = cal_days_from_civil(by + 18, bm, bd); /* 29 Feb rolls to 1 Mar */
	long join_lo = adult > first_day ? adult : first_day;
	assert(join_lo <= last_day);
	long joined = join_lo + (long)rng_below(&r, (uint64_t)(last_day - join_lo + 1));

	json_t *rec = json_object();
	put(&b, rec, "member_id", json_string(id));
	put(&b, rec, "name", build_name(&b, family, given));
	format_date(birth, date);
	put(&b, rec, "birth_date", json_string(date));
	put(&b, rec, "gender", json_string(gender));
	put(&b, rec, "address", build_address(&b, g, &r, &pref));
	make_phone(&r, pref, phone, sizeof(phone));
	put(&b, rec, "phone", json_string(phone));
	if (make_email(&r, family, given, by, email, sizeof(email)) != 0)
		b.ok = 0;
	put(&b, rec, "email", json_string(email));

	snprintf(url, sizeof(url), "https://members.example/photos/%s.jpg", id);
	for (int i = 0; i < 4; i++)
		snprintf(hex + 16 * i, 17, "%016llx", (unsigned long long)rng_next(&r));
	json_t *photo = json_object();
	put(&b, photo, "url", json_string(url));
	put(&b, photo, "sha256", json_string(hex));
	put(&b, rec, "photo", photo);

	uint64_t body = my_number_body(g->mynum_key, ordinal - 1);
	snprintf(mynum, sizeof(mynum), "%011llu", (unsigned long long)body);
	int check = members_my_number_check_digit(mynum);
	assert(check >= 0);
	mynum[11] = (char)('0' + check);
	mynum[12] = '\0';
	put(&b, rec, "my_number", json_string(mynum));

	static const char *const grades[] = {"regular", "silver", "gold", "platinum"};
	static const unsigned grade_permille[] = {600, 220, 130, 50};
	unsigned x = (unsigned)rng_below(&r, 1000), gi = 0;
	while (gi + 1 < NELEM(grades) && x >= grade_permille[gi])
		x -= grade_permille[gi++];
	unsigned sx = (unsigned)rng_below(&r, 1000);
	const char *status = sx < 900 ? "active" : sx < 980 ? "withdrawn" : "suspended";
	json_t *ms = json_object();
	format_date(joined, date);
	put(&b, ms, "joined", json_string(date));
	put(&b, ms, "grade", json_string(grades[gi]));
	put(&b, ms, "status", json_string(status));
	put(&b, rec, "membership", ms);

	json_t *course_arr = json_array(), *cert_arr = json_array();
	build_studies(&b, g, &r, joined, last_day, course_arr, cert_arr);
	put(&b, rec, "courses", course_arr);
	put(&b, rec, "certifications", cert_arr);

	int third_party = rng_permille(&r, 200);
	json_t *consented = json_array();
	if (third_party && rng_permille(&r, 200))
		append(&b, consented, json_string(CONSENT_CONTRACT));
	json_t *cs = json_object();
	put(&b, cs, "marketing", json_boolean(rng_permille(&r, 600)));
	put(&b, cs, "survey", json_boolean(rng_permille(&r, 500)));
	put(&b, cs, "third_party_provision", json_boolean(third_party));
	put(&b, cs, "consented", consented);
	put(&b, rec, "consents", cs);

	json_t *rs = json_object();
	put(&b, rs, "stop_use", json_boolean(rng_permille(&r, 10)));
	put(&b, rs, "stop_third_party", json_boolean(rng_permille(&r, 30)));
	put(&b, rec, "restrictions", rs);
	/* provision to a third party abroad (APPI Art. 28): a quarter of those who consent to
	 * third parties. Drawn last, so that every other value of a record stays as it was. */
	put(&b, cs, "foreign_provision", json_boolean(third_party && rng_permille(&r, 250)));

	if (!b.ok) {
		json_decref(rec);
		return NULL;
	}
	return rec;
}

/* ---- the database ---- */

static int
db_exec(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", sql, msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static int
fill(sqlite3 *db, unsigned long n, unsigned long seed, char *err, size_t errlen)
{
	sqlite3_stmt *ins = NULL;
	struct gen g;
	char id[32];
	int rc = -1;

	gen_init(&g, n, seed);
	/* The file is new and ours alone: a crash mid-build leaves garbage we delete anyway. */
	if (db_exec(db, "PRAGMA journal_mode=OFF", err, errlen) != 0 ||
	    db_exec(db, "PRAGMA synchronous=OFF", err, errlen) != 0 ||
	    db_exec(db, "PRAGMA cache_size=-65536", err, errlen) != 0 ||
	    db_exec(db, "BEGIN", err, errlen) != 0 ||
	    db_exec(db, "CREATE TABLE members(member_id TEXT PRIMARY KEY, record TEXT NOT NULL)",
	            err, errlen) != 0)
		goto done;
	if (sqlite3_prepare_v2(db, "INSERT INTO members(member_id, record) VALUES(?1, ?2)", -1,
	                       &ins, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "prepare insert: %s", sqlite3_errmsg(db));
		goto done;
	}
	for (unsigned long i = 1; i <= n; i++) {
		json_t *rec = member_record(&g, i, id, sizeof(id));
		char *text = rec ? json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
		json_decref(rec);
		if (text == NULL) {
			snprintf(err, errlen, "member %s: out of memory", id);
			goto done;
		}
		int src = sqlite3_bind_text(ins, 1, id, -1, SQLITE_STATIC);
		if (src == SQLITE_OK)
			src = sqlite3_bind_text(ins, 2, text, -1, SQLITE_STATIC);
		if (src == SQLITE_OK)
			src = sqlite3_step(ins);
		free(text);
		sqlite3_reset(ins);
		sqlite3_clear_bindings(ins);
		if (src != SQLITE_DONE) {
			snprintf(err, errlen, "insert %s: %s", id, sqlite3_errmsg(db));
			goto done;
		}
	}
	/*
	 * WAL from then on: the gateway's reads take no file locks and never wait for a writer
	 * (origin.c). An empty database is left in rollback mode: it goes where the association's
	 * own tool fills it, often a folder the gateway may not write, where SQLite could not make
	 * the WAL's files; the gateway converts it at start when it may.
	 */
	if (db_exec(db, "COMMIT", err, errlen) != 0 ||
	    db_exec(db, n > 0 ? "PRAGMA journal_mode=WAL" : "PRAGMA journal_mode=DELETE", err,
	            errlen) != 0)
		goto done;
	rc = 0;
done:
	sqlite3_finalize(ins);
	return rc;
}

int
members_generate(const char *db_path, unsigned long n, unsigned long seed, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	int fd = -1, created = 0, rc = -1;
	char scratch[8];

	if (err == NULL || errlen == 0) {
		err = scratch;
		errlen = sizeof(scratch);
	}
	err[0] = '\0';
	if (db_path == NULL || db_path[0] == '\0') {
		snprintf(err, errlen, "no database path given");
		return -1;
	}
	if (n > MEMBERS_MAX) {
		snprintf(err, errlen, "%lu members: at most %lu", n, MEMBERS_MAX);
		return -1;
	}
	/* O_EXCL: never overwrite (or follow a link to) someone's data. */
	fd = open(db_path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s%s", db_path, strerror(errno),
		         errno == EEXIST ? " (refusing to overwrite)" : "");
		return -1;
	}
	created = 1;
	if (fchmod(fd, 0600) != 0) { /* the umask may only have narrowed it; be exact */
		snprintf(err, errlen, "%s: chmod: %s", db_path, strerror(errno));
		goto done;
	}
	close(fd);
	fd = -1;
	if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", db_path, db ? sqlite3_errmsg(db) : "out of memory");
		goto done;
	}
	if (fill(db, n, seed, err, errlen) != 0)
		goto done;
	if (sqlite3_close(db) != SQLITE_OK) {
		snprintf(err, errlen, "%s: close: %s", db_path, sqlite3_errmsg(db));
		goto done;
	}
	db = NULL;
	/* synchronous=OFF skipped every fsync: make the finished file durable once. */
	fd = open(db_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) != 0) {
		snprintf(err, errlen, "%s: fsync: %s", db_path, strerror(errno));
		goto done;
	}
	rc = 0;
done:
	if (fd >= 0)
		close(fd);
	if (db != NULL)
		sqlite3_close_v2(db);
	if (rc != 0 && created)
		unlink(db_path);
	return rc;
}
