"""Handwritten keyword lexicons: what kind of task a request asks for, in sixteen languages.

Each entry is matched against normalised text (see router.classify.signals): for languages written
with spaces between words an entry matches at the start of a word ("calcul" matches "calculate",
"calcular", "calculez"), and one ending in a space only as a whole word ("hi "); for Chinese, Japanese
and Thai, written without spaces, an entry matches anywhere. Kinds:

- math: calculation, solving, counting;  code: programming;  reason: proof, logic, step-by-step,
  planning, analysis;  stem / humanities: specialised knowledge domains;  constraint: precise
  instructions (exact counts, musts, formats);  write: creative or business writing;  roleplay;
  extract: summarise / translate / classify / reformat a given text;  chat: greetings and small talk.

The lists are short on purpose: they name the task, not the topic of a benchmark.
"""

from __future__ import annotations

KINDS: tuple[str, ...] = (
    "math",
    "code",
    "reason",
    "stem",
    "humanities",
    "constraint",
    "write",
    "roleplay",
    "extract",
    "chat",
)

# English technical words are used as they are in every language (python, sql, api, ...), so the
# English lexicon is always matched besides the detected language's own.
_L: dict[str, dict[str, str]] = {
    "en": {
        "math": "calculat|compute|solve|how many|how much|how long|how old|equation|sum of|total|percent|"
        "probabilit|integral|derivative|average|ratio|divisib|integer|prime number|fraction|"
        "arithmetic|algebra|geometr|triangle|circle|area of|volume|square root|simplify|evaluate|"
        "polynomial|matrix|vector|find the value|find x|what is the value|remainder|multipl|divide|"
        "math|statistic|expected value|each |per |costs|profit|discount|sqrt|irrational|modulo|logarithm|"
        "inequalit|divisor|factorial|permutation|combinatori|perimeter|rectangular|rectangle|maximize the|"
        "minimize the|dimensions of|square feet|square meters",
        "code": "code|function|program|implement|script|python|javascript|typescript|java |c++|c# |rust |golang|"
        "sql|regex|api |class |method|bug|debug|compile|error|exception|traceback|refactor|unit test|"
        "algorithm|array|linked list|recursion|html|css|react|docker|kubernetes|bash|shell|terminal|"
        "database|query|json|yaml|library|framework|git |stack trace|runtime|variable|loop|"
        "data structure|complexity|big o|parse|server|frontend|backend|endpoint",
        "reason": "prove|proof|why |explain why|step by step|logic|deduc|infer|riddle|puzzle|"
        "paradox|reason|if and only if|therefore|contradiction|theorem|lemma|hypothes|optimi|"
        "trade-off|tradeoff|design a|plan |strategy|analy|compare|evaluate whether|justify|"
        "what would happen|consequence|implication|counterexample|assume|suppose|conclude|conclusion|"
        "work out|think through|reason carefully|your reasoning|is it possible|minimal|arrangement|"
        "assumption|valid|measure exactly",
        "stem": "physic|chemi|biolog|molecul|enzyme|protein|quantum|thermodynam|electr|mechanic|"
        "medic|clinical|disease|patient|diagnos|anatom|genetic|neuro|astronom|engineer|"
        "econom|financ|accounting|machine learning|neural network|statistic|relativity|"
        "cell |dna|gene|crispr|atom|reaction|velocity|acceleration|energy|force|circuit|scien|"
        "immun|vaccin|antibod|photosynth|planet|orbit|climate|semiconductor|transistor|wavelength|"
        "mitosis|meiosis|greenhouse",
        "humanities": "history|histor|war |empire|revolution|century|treaty|law |legal|supreme court|lawsuit|statute|"
        "constitution|jurisprud|philosoph|ethic|moral|religio|politic|government|sociolog|"
        "psycholog|literature|novel|poet|art |music|culture|anthropolog|linguistic|"
        "geograph|dynasty|king |queen |president",
        "constraint": "exactly|at least|at most|no more than|no fewer than|must |must not|do not|don't|"
        "without using|only use|only |words|sentences|paragraph|bullet|format|in the style|"
        "limit|maximum|minimum|each line|start with|end with|include|exclude|json|table|"
        "list of|numbered|rhyme|acrostic|characters",
        "write": "write|poem|story|essay|email|letter|compose|blog|draft|song|lyrics|haiku|slogan|"
        "tweet|post |speech|script for|headline|tagline|cover letter|limerick|sonnet|rewrite|"
        "creative|fiction|tale|describe|advertis|marketing|persuasive",
        "roleplay": "pretend|act as|roleplay|role-play|role play|imagine you are|you are a |you are an |"
        "play the role|as if you were|character|in character|embody|stay in",
        "extract": "extract|summari|summary|tl;dr|list all|from the text|from the following|given text|"
        "translat|rephrase|paraphrase|classify|categori|identify the|pick out|parse the|"
        "convert|reformat|keywords|named entit|sentiment|the passage|the article|the document|"
        "pull out|from this text|from these|from this paragraph|given this|read this|list the|"
        "key points|return the same|sort the|format your answer|list every|list each",
        "chat": "hi |hello|hey |thanks|thank you|how are you|good morning|good night|good evening|joke|"
        "what's up|whats up|nice to meet|bye|lol|cool |awesome|who are you|your name",
    },
    "de": {
        "math": "berechne|rechne|löse|lös |wie viele|wie viel|wie lange|wie alt|gleichung|summe|insgesamt|"
        "prozent|wahrscheinlich|integral|ableitung|durchschnitt|verhältnis|ganze zahl|primzahl|"
        "bruch|dreieck|kreis|fläche|volumen|wurzel|vereinfache|bestimme|kostet|kosten|jede|pro |"
        "mathe|zahl|multiplizier|teile|dividier",
        "code": "programm|funktion|implementier|skript|quellcode|fehler|fehlermeldung|kompilier|"
        "klasse|methode|algorithmus|datenbank|abfrage|variable|schleife|rekursion|bibliothek",
        "reason": "beweise|beweis|warum|erkläre warum|schritt für schritt|logik|folger|rätsel|paradox|"
        "begründe|widerspruch|satz |optimier|strategie|analysier|vergleiche|angenommen|"
        "nimm an|plane|entwirf",
        "stem": "physik|chemie|biologie|molekül|enzym|quanten|medizin|krankheit|patient|diagnose|"
        "genetik|astronomie|ingenieur|wirtschaft|statistik|energie|kraft|atom|zelle",
        "humanities": "geschichte|historisch|krieg|reich |revolution|jahrhundert|vertrag|gesetz|recht|"
        "gericht|verfassung|philosophie|ethik|moral|religion|politik|regierung|literatur|"
        "kultur|kunst|musik|könig",
        "constraint": "genau|mindestens|höchstens|nicht mehr als|muss|darf nicht|nur |wörter|sätze|absatz|"
        "format|tabelle|liste|reim",
        "write": "schreib|gedicht|geschichte über|aufsatz|e-mail|brief|verfasse|blog|entwurf|lied|"
        "slogan|rede|erzählung|beschreibe|werbe",
        "roleplay": "tu so als|stell dir vor du bist|rolle|spiel die rolle|du bist ein|figur|charakter",
        "extract": "extrahier|zusammenfass|fasse|übersetz|umformulier|klassifizier|kategorisier|"
        "finde alle|aus dem text|folgenden text|konvertier|schlüsselwört",
        "chat": "hallo|hi |danke|wie geht|guten morgen|gute nacht|guten abend|witz|tschüss|wer bist du",
    },
    "es": {
        "math": "calcul|resuelve|resolver|cuántos|cuántas|cuánto|cuánta|ecuación|suma|total|porcentaje|"
        "probabilidad|integral|derivada|promedio|razón|entero|número primo|fracción|triángulo|"
        "círculo|área|volumen|raíz|simplifica|determina|cuesta|cada |matemátic|número|"
        "multiplica|divid",
        "code": "código|función|programa|implementa|script|error|depura|compila|clase|método|"
        "algoritmo|base de datos|consulta|variable|bucle|recursi|biblioteca",
        "reason": "demuestra|demostración|prueba que|por qué|explica por qué|paso a paso|lógica|deduc|"
        "acertijo|paradoja|razona|justifica|contradicción|teorema|optimiza|estrategia|analiza|"
        "compara|supón|supongamos|planifica|diseña",
        "stem": "física|química|biología|molécula|enzima|cuántic|medicina|enfermedad|paciente|"
        "diagnóstico|genética|astronomía|ingenier|economía|estadística|energía|fuerza|átomo|célula",
        "humanities": "historia|histórico|guerra|imperio|revolución|siglo|tratado|ley |legal|tribunal|"
        "constitución|filosofía|ética|moral|religión|política|gobierno|literatura|cultura|arte|"
        "música|rey |reina",
        "constraint": "exactamente|al menos|como máximo|no más de|debe|no debe|solo |sólo |palabras|"
        "oraciones|frases|párrafo|formato|tabla|lista|rima",
        "write": "escribe|poema|cuento|historia sobre|ensayo|correo|carta|redacta|compón|blog|borrador|"
        "canción|eslogan|discurso|describe|anuncio",
        "roleplay": "finge|actúa como|imagina que eres|juego de rol|haz el papel|eres un|personaje",
        "extract": "extrae|resume|resumen|traduce|traducción|reformula|parafrasea|clasifica|"
        "categoriza|enumera todos|del texto|el siguiente texto|convierte|palabras clave",
        "chat": "hola|gracias|cómo estás|buenos días|buenas noches|buenas tardes|chiste|adiós|quién eres",
    },
    "fr": {
        "math": "calcul|résou|combien|équation|somme|total|pourcentage|probabilit|intégrale|dérivée|"
        "moyenne|rapport|entier|nombre premier|fraction|triangle|cercle|aire|volume|racine|"
        "simplifie|détermine|coûte|chaque|mathémat|multipli|divis|quel âge",
        "code": "code|fonction|programme|implément|script|erreur|débogu|compil|classe|méthode|"
        "algorithme|base de données|requête|variable|boucle|récursi|bibliothèque",
        "reason": "démontre|démonstration|prouve|pourquoi|explique pourquoi|étape par étape|logique|"
        "dédui|énigme|paradoxe|raisonne|justifie|contradiction|théorème|optimis|stratégie|"
        "analyse|compare|suppose|supposons|planifie|conçois",
        "stem": "physique|chimie|biologie|molécule|enzyme|quantique|médecin|maladie|patient|"
        "diagnostic|génétique|astronomie|ingénie|économie|statistique|énergie|force|atome|cellule",
        "humanities": "histoire|historique|guerre|empire|révolution|siècle|traité|loi |juridique|tribunal|"
        "constitution|philosophie|éthique|morale|religion|politique|gouvernement|littérature|"
        "culture|art |musique|roi |reine",
        "constraint": "exactement|au moins|au plus|pas plus de|doit|ne doit pas|seulement|uniquement|mots|"
        "phrases|paragraphe|format|tableau|liste|rime",
        "write": "écris|rédige|poème|histoire sur|conte|essai|e-mail|courriel|lettre|compose|blog|"
        "brouillon|chanson|slogan|discours|décris|publicité",
        "roleplay": "fais semblant|agis comme|imagine que tu es|jeu de rôle|joue le rôle|tu es un|personnage",
        "extract": "extrai|résume|résumé|tradui|traduction|reformule|paraphrase|classe |classifie|"
        "catégoris|liste tous|du texte|le texte suivant|convertis|mots-clés|mots clés",
        "chat": "bonjour|salut|merci|comment vas|comment ça va|bonne nuit|bonsoir|blague|au revoir|qui es-tu",
    },
    "pt": {
        "math": "calcul|resolva|quantos|quantas|quanto|equação|soma|total|porcentagem|probabilidade|"
        "média|número|cada |custa|matemátic",
        "code": "código|função|programa|implement|erro|algoritmo|banco de dados|variável",
        "reason": "prove|demonstre|por que|por quê|passo a passo|lógica|enigma|justifique|teorema|"
        "estratégia|analise|compare|suponha",
        "stem": "física|química|biologia|medicina|doença|genética|economia|estatística|energia",
        "humanities": "história|guerra|revolução|século|lei |filosofia|ética|moral|religião|política",
        "constraint": "exatamente|pelo menos|no máximo|deve|apenas|palavras|frases|formato|tabela|lista",
        "write": "escreva|poema|conto|redação|e-mail|carta|componha|canção|discurso|descreva",
        "roleplay": "finja|aja como|imagine que você é|interprete|personagem",
        "extract": "extraia|resuma|resumo|traduza|reformule|classifique|do texto|palavras-chave",
        "chat": "olá|oi |obrigad|tudo bem|bom dia|boa noite|piada|tchau",
    },
    "it": {
        "math": "calcol|risolvi|quanti|quante|quanto|equazione|somma|totale|percentuale|probabilità|"
        "media|numero|ogni|costa|matematic",
        "code": "codice|funzione|programma|implementa|errore|algoritmo|database|variabile",
        "reason": "dimostra|perché|passo dopo passo|logica|indovinello|giustifica|teorema|strategia|analizza|confronta|supponi",
        "stem": "fisica|chimica|biologia|medicina|malattia|genetica|economia|statistica|energia",
        "humanities": "storia|guerra|rivoluzione|secolo|legge|filosofia|etica|morale|religione|politica",
        "constraint": "esattamente|almeno|al massimo|deve|solo |parole|frasi|formato|tabella|elenco",
        "write": "scrivi|poesia|racconto|saggio|e-mail|lettera|componi|canzone|discorso|descrivi",
        "roleplay": "fingi|comportati come|immagina di essere|interpreta|personaggio",
        "extract": "estrai|riassumi|riassunto|traduci|riformula|classifica|dal testo|parole chiave",
        "chat": "ciao|grazie|come stai|buongiorno|buonanotte|barzelletta",
    },
    "ru": {
        "math": "вычисл|посчитай|подсчитай|рассчита|реши|сколько|уравнени|сумм|итого|всего|процент|"
        "вероятност|интеграл|производн|среднее|отношени|целое|простое число|дроб|треугольник|"
        "окружност|площад|объём|объем|корень|упрости|найди|стоит|стоимост|кажд|математ|числ|"
        "умнож|подели|раздели",
        "code": "код|функци|программ|реализуй|скрипт|ошибк|отлад|компил|класс|метод|алгоритм|"
        "база данных|запрос|переменн|цикл|рекурси|библиотек",
        "reason": "докажи|доказательств|почему|объясни почему|шаг за шагом|пошагово|логик|выведи|"
        "загадк|головоломк|парадокс|обоснуй|противоречи|теорем|оптимиз|стратеги|проанализируй|"
        "анализ|сравни|предположим|допустим|спланируй|спроектируй",
        "stem": "физик|хими|биолог|молекул|фермент|квант|медицин|болезн|пациент|диагноз|генетик|"
        "астроном|инженер|экономик|статистик|энерги|сил|атом|клетк",
        "humanities": "истори|войн|импери|революци|век|договор|закон|право|суд|конституци|философи|"
        "этик|морал|религи|политик|правительств|литератур|культур|искусств|музык|король|царь",
        "constraint": "ровно|точно|не менее|не более|как минимум|максимум|должен|должна|нельзя|только|"
        "слов|предложени|абзац|формат|таблиц|список|рифм",
        "write": "напиши|стих|рассказ|сочинени|эссе|письмо|составь|блог|черновик|песн|слоган|речь|опиши|реклам",
        "roleplay": "притворись|представь что ты|веди себя как|ролев|сыграй роль|ты —|персонаж",
        "extract": "извлеки|выдели|резюмир|кратко изложи|перескажи|переведи|перевод|перефразируй|"
        "классифицир|категориз|перечисли все|из текста|следующий текст|преобразуй|ключевые слова",
        "chat": "привет|здравствуй|спасибо|как дела|доброе утро|спокойной ночи|добрый вечер|анекдот|шутк|пока |кто ты",
    },
    "sw": {
        "math": "hesabu|kokotoa|tatua|ngapi|kiasi gani|kwa muda gani|mlinganyo|jumla|asilimia|"
        "uwezekano|wastani|uwiano|namba|nambari|sehemu|pembetatu|duara|eneo|ujazo|kipeuo|"
        "kila |gharama|bei|hisabati|zidisha|gawanya|shilingi|umri gani",
        "code": "msimbo|programu|chaguo la kukokotoa|chaguo hili la kukokotoa|kitendakazi|tekeleza|hitilafu|kosa|darasa|mbinu|algorithimu|hifadhidata|kigezo|kitanzi",
        "reason": "thibitisha|uthibitisho|kwa nini|eleza kwa nini|hatua kwa hatua|mantiki|kitendawili|"
        "fumbo|sababu|kinzani|nadharia|boresha|mkakati|chambua|linganisha|tuseme|panga|buni",
        "stem": "fizikia|kemia|biolojia|molekuli|dawa|ugonjwa|mgonjwa|utambuzi|jenetiki|unajimu|"
        "uhandisi|uchumi|takwimu|nishati|nguvu|atomi|seli",
        "humanities": "historia|vita |milki|mapinduzi|karne|mkataba|sheria|mahakama|katiba|falsafa|"
        "maadili|dini|siasa|serikali|fasihi|utamaduni|sanaa|muziki|mfalme",
        "constraint": "hasa |angalau|isiyozidi|lazima|usitumie|tu |maneno|sentensi|aya |muundo|jedwali|orodha|vina ",
        "write": "andika|shairi|hadithi|insha|barua pepe|barua|tunga|blogu|rasimu|wimbo|kauli mbiu|hotuba|eleza|tangazo",
        "roleplay": "jifanye|igiza|fikiria kuwa wewe ni|chukua nafasi|wewe ni|mhusika",
        "extract": "toa |fupisha|muhtasari|tafsiri|andika upya|ainisha|panga katika|orodhesha|kutoka kwa "
        "maandishi|maandishi yafuatayo|badilisha|maneno muhimu",
        "chat": "habari|hujambo|jambo|mambo|asante|u hali gani|habari za asubuhi|usiku mwema|utani|kwaheri|wewe ni nani",
    },
    "ar": {
        "math": "احسب|حل |كم |معادلة|مجموع|المجموع|نسبة|احتمال|تكامل|مشتقة|متوسط|عدد صحيح|عدد أولي|"
        "كسر|مثلث|دائرة|مساحة|حجم|جذر|بسط|أوجد|يكلف|تكلفة|كل |رياضيات|اضرب|اقسم",
        "code": "كود|شيفرة|برمج|دالة|نفذ|خطأ|صحح|فئة|خوارزمية|قاعدة بيانات|استعلام|متغير|حلقة|مكتبة",
        "reason": "أثبت|برهان|لماذا|اشرح لماذا|خطوة بخطوة|منطق|استنتج|لغز|مفارقة|علل|تناقض|نظرية|"
        "حسّن|استراتيجية|حلل|قارن|افترض|خطط|صمم",
        "stem": "فيزياء|كيمياء|أحياء|جزيء|إنزيم|كمومي|طب |مرض|مريض|تشخيص|وراثة|فلك|هندسة|اقتصاد|إحصاء|طاقة|قوة|ذرة|خلية",
        "humanities": "تاريخ|حرب|إمبراطورية|ثورة|قرن|معاهدة|قانون|محكمة|دستور|فلسفة|أخلاق|دين|"
        "سياسة|حكومة|أدب|ثقافة|فن|موسيقى|ملك",
        "constraint": "بالضبط|على الأقل|على الأكثر|لا يزيد عن|يجب|لا يجب|فقط|كلمات|جمل|فقرة|تنسيق|جدول|قائمة|قافية",
        "write": "اكتب|قصيدة|قصة|مقال|بريد إلكتروني|رسالة|ألف|مدونة|مسودة|أغنية|شعار|خطاب|صف|إعلان",
        "roleplay": "تظاهر|تصرف ك|تخيل أنك|لعب الأدوار|أنت |شخصية",
        "extract": "استخرج|لخص|ملخص|ترجم|ترجمة|أعد صياغة|صنف|اذكر كل|من النص|النص التالي|حوّل|الكلمات المفتاحية",
        "chat": "مرحبا|أهلا|شكرا|كيف حالك|صباح الخير|تصبح على خير|مساء الخير|نكتة|وداعا|من أنت",
    },
    "hi": {
        "math": "गणना|हिसाब|हल कर|कितने|कितनी|कितना|समीकरण|योग|कुल|प्रतिशत|प्रायिकता|संभावना|समाकल|"
        "अवकलज|औसत|अनुपात|पूर्णांक|अभाज्य|भिन्न|त्रिभुज|वृत्त|क्षेत्रफल|आयतन|वर्गमूल|सरल कर|ज्ञात कर|"
        "कीमत|लागत|प्रत्येक|हर |गणित|गुणा|भाग",
        "code": "कोड|फ़ंक्शन|फंक्शन|प्रोग्राम|लागू कर|स्क्रिप्ट|त्रुटि|बग|क्लास|एल्गोरिदम|डेटाबेस|चर |लूप",
        "reason": "सिद्ध कर|प्रमाण|क्यों|समझाइए क्यों|चरण दर चरण|क़दम दर क़दम|कदम दर कदम|तर्क|निष्कर्ष|"
        "पहेली|विरोधाभास|औचित्य|प्रमेय|अनुकूलित|रणनीति|विश्लेषण|तुलना|मान लीजिए|मान लो|योजना",
        "stem": "भौतिकी|रसायन|जीवविज्ञान|अणु|एंजाइम|क्वांटम|चिकित्सा|रोग|बीमारी|मरीज़|निदान|आनुवंशिक|"
        "खगोल|इंजीनियर|अर्थशास्त्र|सांख्यिकी|ऊर्जा|बल |परमाणु|कोशिका",
        "humanities": "इतिहास|युद्ध|साम्राज्य|क्रांति|शताब्दी|सदी|संधि|कानून|क़ानून|न्यायालय|अदालत|संविधान|"
        "दर्शन|नैतिक|धर्म|राजनीति|सरकार|साहित्य|संस्कृति|कला|संगीत|राजा",
        "constraint": "ठीक|कम से कम|अधिक से अधिक|से अधिक नहीं|चाहिए|नहीं चाहिए|केवल|सिर्फ़|सिर्फ|शब्द|वाक्य|अनुच्छेद|प्रारूप|तालिका|सूची|तुकबंदी",
        "write": "लिखिए|लिखें|लिखो|कविता|कहानी|निबंध|ईमेल|पत्र|रचना|ब्लॉग|मसौदा|गीत|नारा|भाषण|वर्णन|विज्ञापन",
        "roleplay": "नाटक कर|की तरह व्यवहार|कल्पना कीजिए कि आप|मान लो कि तुम|मान लीजिए कि आप|भूमिका|आप एक|पात्र",
        "extract": "निकालिए|निकालें|सारांश|संक्षेप|अनुवाद|दोबारा लिखिए|वर्गीकृत|सूचीबद्ध|पाठ से|निम्नलिखित पाठ|बदलिए|कीवर्ड",
        "chat": "नमस्ते|नमस्कार|धन्यवाद|शुक्रिया|आप कैसे हैं|कैसे हो|सुप्रभात|शुभ रात्रि|चुटकुला|अलविदा|आप कौन",
    },
    "bn": {
        "math": "হিসাব|গণনা|সমাধান|কতগুলো|কতটি|কত |সমীকরণ|যোগফল|মোট|শতাংশ|সম্ভাবনা|সমাকলন|অন্তরকলজ|"
        "গড়|অনুপাত|পূর্ণসংখ্যা|মৌলিক সংখ্যা|ভগ্নাংশ|ত্রিভুজ|বৃত্ত|ক্ষেত্রফল|আয়তন|বর্গমূল|সরল কর|নির্ণয়|"
        "দাম|খরচ|প্রতিটি|প্রতি |গণিত|গুণ|ভাগ",
        "code": "কোড|ফাংশন|প্রোগ্রাম|বাস্তবায়ন|স্ক্রিপ্ট|ত্রুটি|বাগ|ক্লাস|অ্যালগরিদম|ডেটাবেস|চলক|লুপ",
        "reason": "প্রমাণ|কেন|ব্যাখ্যা কর কেন|ধাপে ধাপে|যুক্তি|সিদ্ধান্ত|ধাঁধা|প্যারাডক্স|উপপাদ্য|কৌশল|বিশ্লেষণ|তুলনা|ধরা যাক|ধরি|পরিকল্পনা",
        "stem": "পদার্থবিজ্ঞান|রসায়ন|জীববিজ্ঞান|অণু|এনজাইম|কোয়ান্টাম|চিকিৎসা|রোগ|রোগী|নির্ণয়|জিনতত্ত্ব|"
        "জ্যোতির্বিজ্ঞান|প্রকৌশল|অর্থনীতি|পরিসংখ্যান|শক্তি|বল |পরমাণু|কোষ",
        "humanities": "ইতিহাস|যুদ্ধ|সাম্রাজ্য|বিপ্লব|শতাব্দী|চুক্তি|আইন|আদালত|সংবিধান|দর্শন|নৈতিক|ধর্ম|রাজনীতি|সরকার|সাহিত্য|সংস্কৃতি|শিল্প|সঙ্গীত|রাজা",
        "constraint": "ঠিক|অন্তত|সর্বোচ্চ|এর বেশি নয়|অবশ্যই|কেবল|শুধু|শব্দ|বাক্য|অনুচ্ছেদ|বিন্যাস|সারণি|তালিকা|ছন্দ",
        "write": "লিখ|কবিতা|গল্প|প্রবন্ধ|ইমেল|ইমেইল|চিঠি|রচনা|ব্লগ|খসড়া|গান|স্লোগান|বক্তৃতা|বর্ণনা|বিজ্ঞাপন",
        "roleplay": "ভান কর|মতো আচরণ|কল্পনা কর যে তুমি|ভূমিকা|তুমি একজন|আপনি একজন|চরিত্র",
        "extract": "বের কর|সারাংশ|সংক্ষেপ|অনুবাদ|পুনরায় লিখ|শ্রেণীবদ্ধ|তালিকাভুক্ত|পাঠ্য থেকে|নিচের পাঠ্য|রূপান্তর|মূলশব্দ",
        "chat": "নমস্কার|হ্যালো|ধন্যবাদ|কেমন আছ|সুপ্রভাত|শুভ রাত্রি|কৌতুক|বিদায়|তুমি কে|আপনি কে",
    },
    "te": {
        "math": "లెక్కించ|లెక్క|పరిష్కరించ|ఎన్ని|ఎంత|సమీకరణ|మొత్తం|శాతం|సంభావ్యత|సమాకలనం|అవకలజం|సగటు|"
        "నిష్పత్తి|పూర్ణాంకం|ప్రధాన సంఖ్య|భిన్నం|త్రిభుజ|వృత్త|వైశాల్యం|ఘనపరిమాణం|వర్గమూలం|సరళీకరించ|"
        "కనుగొన|ధర|ఖర్చు|ప్రతి |గణిత|గుణించ|భాగించ",
        "code": "కోడ్|ఫంక్షన్|ప్రోగ్రామ్|అమలు|స్క్రిప్ట్|లోపం|బగ్|క్లాస్|అల్గారిథం|డేటాబేస్|వేరియబుల్|లూప్",
        "reason": "నిరూపించ|నిరూపణ|ఎందుకు|దశలవారీగా|దశల వారీగా|తర్కం|తార్కిక|ముగింపు|పొడుపు|విరోధాభాస|సిద్ధాంతం|వ్యూహం|విశ్లేషించ|పోల్చ|అనుకుందాం|ప్రణాళిక",
        "stem": "భౌతిక శాస్త్రం|రసాయన|జీవశాస్త్రం|అణువు|ఎంజైమ్|క్వాంటం|వైద్య|వ్యాధి|రోగి|నిర్ధారణ|జన్యు|ఖగోళ|ఇంజనీర్|ఆర్థిక శాస్త్రం|గణాంక|శక్తి|బలం|పరమాణువు|కణం",
        "humanities": "చరిత్ర|యుద్ధం|సామ్రాజ్యం|విప్లవం|శతాబ్దం|ఒప్పందం|చట్టం|న్యాయస్థానం|రాజ్యాంగం|తత్వశాస్త్రం|"
        "నైతిక|మతం|రాజకీయ|ప్రభుత్వం|సాహిత్యం|సంస్కృతి|కళ|సంగీతం|రాజు",
        "constraint": "సరిగ్గా|కనీసం|గరిష్టంగా|మించకుండా|తప్పనిసరిగా|మాత్రమే|పదాలు|వాక్యాలు|పేరా|ఫార్మాట్|పట్టిక|జాబితా|ప్రాస",
        "write": "రాయండి|రాయి|వ్రాయండి|కవిత|కథ|వ్యాసం|ఈమెయిల్|ఇమెయిల్|లేఖ|ఉత్తరం|రచించ|బ్లాగ్|ముసాయిదా|పాట|నినాదం|ప్రసంగం|వర్ణించ|ప్రకటన",
        "roleplay": "నటించ|లా ప్రవర్తించ|నువ్వు ఒక|ఊహించుకో|పాత్ర",
        "extract": "సంగ్రహించ|సారాంశం|అనువదించ|అనువాదం|తిరిగి రాయ|వర్గీకరించ|జాబితా చేయ|పాఠం నుండి|క్రింది పాఠం|మార్చండి|కీలక పదాలు",
        "chat": "నమస్కారం|నమస్తే|హలో|ధన్యవాదాలు|ఎలా ఉన్నారు|ఎలా ఉన్నావు|శుభోదయం|శుభ రాత్రి|జోక్|వీడ్కోలు|మీరు ఎవరు",
    },
    "zh": {
        "math": "计算|算一算|求解|解方程|解出|多少|几个|几只|几天|方程|总和|总共|一共|百分之|百分比|概率|积分|导数|"
        "平均|比例|整数|质数|素数|分数|三角形|圆|面积|体积|平方根|化简|求|每|元|数学|乘|除以|余数|几岁|多大",
        "code": "代码|函数|程序|编程|实现|脚本|报错|错误|调试|编译|方法|算法|数据库|查询|变量|循环|递归|链表|数组|字符串|容器",
        "reason": "证明|为什么|解释为什么|一步一步|逐步|逻辑|推理|推导|谜题|谜语|悖论|论证|矛盾|定理|优化|策略|"
        "分析|比较|假设|假如|规划|设计",
        "stem": "物理|化学|生物|分子|酶|量子|医学|疾病|病人|患者|诊断|遗传|天文|工程|经济|统计|能量|力|原子|细胞",
        "humanities": "历史|战争|帝国|革命|世纪|条约|法律|法院|宪法|哲学|伦理|道德|宗教|政治|政府|文学|文化|艺术|"
        "音乐|国王|皇帝|朝代",
        "constraint": "恰好|正好|至少|至多|最多|不超过|必须|不要|只能|仅限|个字|句话|段落|格式|表格|列表|押韵",
        "write": "写|诗|故事|作文|文章|邮件|信|撰写|博客|草稿|歌|口号|演讲|描述|广告",
        "roleplay": "假装|扮演|想象你是|角色扮演|你是一个|你是一位|角色",
        "extract": "提取|摘要|总结|概括|翻译|改写|转述|分类|归类|列出所有|从文本|以下文本|转换|关键词",
        "chat": "你好|您好|谢谢|你好吗|早上好|晚安|晚上好|笑话|再见|你是谁",
    },
    "ja": {
        "math": "計算|求め|解け|解いて|いくつ|何個|何人|何本|何日|いくら|方程式|合計|全部で|パーセント|割合|確率|"
        "積分|微分|平均|比率|整数|素数|分数|三角形|円|面積|体積|平方根|簡単に|ずつ|毎|数学|掛け|割り|余り|何歳",
        "code": "コード|関数|プログラム|実装|スクリプト|エラー|バグ|デバッグ|コンパイル|クラス|メソッド|アルゴリズム|連結リスト|文字列|コンテナ|"
        "データベース|クエリ|変数|ループ|再帰|ライブラリ",
        "reason": "証明|なぜ|理由を説明|ステップバイステップ|段階的|順を追って|論理|推論|導出|なぞなぞ|パズル|逆説|"
        "パラドックス|根拠|矛盾|定理|最適化|戦略|分析|比較|仮定|とする|計画|設計",
        "stem": "物理|化学|生物|分子|酵素|量子|医学|病気|患者|診断|遺伝|天文|工学|経済|統計|エネルギー|力|原子|細胞",
        "humanities": "歴史|戦争|帝国|革命|世紀|条約|法律|裁判|憲法|哲学|倫理|道徳|宗教|政治|政府|文学|文化|芸術|"
        "音楽|王|天皇|時代",
        "constraint": "ちょうど|少なくとも|以上|以下|以内|必ず|しないで|のみ|単語|文字以内|段落|形式|表形式|箇条書き|韻",
        "write": "書いて|書け|詩|物語|作文|エッセイ|メール|手紙|作成|ブログ|下書き|歌詞|スローガン|スピーチ|説明して|描写|広告",
        "roleplay": "ふりをして|演じて|なりきって|あなたは|ロールプレイ|役|キャラクター",
        "extract": "抽出|要約|まとめ|翻訳|訳して|言い換え|書き直|分類|列挙|本文から|次の文章|変換|キーワード",
        "chat": "こんにちは|こんばんは|おはよう|ありがとう|お元気|元気ですか|おやすみ|冗談|ジョーク|さようなら|あなたは誰",
    },
    "ko": {
        "math": "계산|풀어|구하시오|구하세요|몇 개|몇 명|몇|얼마|방정식|합계|총|퍼센트|확률|적분|미분|평균|비율|정수|"
        "소수|분수|삼각형|원의|넓이|부피|제곱근|간단히|각각|마다|수학|곱하|나누",
        "code": "코드|함수|프로그램|구현|스크립트|오류|에러|버그|디버그|컴파일|클래스|메서드|알고리즘|데이터베이스|"
        "쿼리|변수|반복문|재귀|라이브러리",
        "reason": "증명|왜|이유를 설명|단계별|차근차근|논리|추론|도출|수수께끼|퍼즐|역설|근거|모순|정리|최적화|전략|"
        "분석|비교|가정|계획|설계",
        "stem": "물리|화학|생물|분자|효소|양자|의학|질병|환자|진단|유전|천문|공학|경제|통계|에너지|힘|원자|세포",
        "humanities": "역사|전쟁|제국|혁명|세기|조약|법률|법원|헌법|철학|윤리|도덕|종교|정치|정부|문학|문화|예술|음악|왕",
        "constraint": "정확히|적어도|최소|최대|이하|이내|반드시|하지 마|만 사용|단어|문장|문단|형식|표로|목록|운율",
        "write": "써 줘|써줘|작성|시를|이야기|에세이|이메일|편지|블로그|초안|노래|가사|슬로건|연설|묘사|광고",
        "roleplay": "척해|역할|연기해|상상해 봐|당신은|너는|캐릭터",
        "extract": "추출|요약|정리해|번역|바꿔 말|다시 써|분류|나열|본문에서|다음 글|변환|키워드",
        "chat": "안녕|고마워|감사합니다|잘 지내|좋은 아침|잘 자|농담|잘 가|누구야|누구세요",
    },
    "th": {
        "math": "คำนวณ|แก้สมการ|หาค่า|กี่|เท่าไร|เท่าไหร่|สมการ|ผลรวม|ทั้งหมด|รวม|เปอร์เซ็นต์|ร้อยละ|ความน่าจะเป็น|"
        "ปริพันธ์|อนุพันธ์|ค่าเฉลี่ย|อัตราส่วน|จำนวนเต็ม|จำนวนเฉพาะ|เศษส่วน|สามเหลี่ยม|วงกลม|พื้นที่|ปริมาตร|"
        "รากที่สอง|ทำให้ง่าย|ราคา|แต่ละ|คณิต|คูณ|หารด้วย",
        "code": "โค้ด|ฟังก์ชัน|โปรแกรม|เขียนโปรแกรม|ติดตั้งใช้งาน|สคริปต์|ข้อผิดพลาด|บั๊ก|ดีบัก|คลาส|เมธอด|อัลกอริทึม|ฐานข้อมูล|ตัวแปร|ลูป|วนซ้ำ|เรียกซ้ำ",
        "reason": "พิสูจน์|ทำไม|อธิบายว่าทำไม|ทีละขั้นตอน|ตรรกะ|อนุมาน|ปริศนา|ความขัดแย้ง|ทฤษฎีบท|เหตุผล|"
        "กลยุทธ์|วิเคราะห์|เปรียบเทียบ|สมมติ|วางแผน|ออกแบบ",
        "stem": "ฟิสิกส์|เคมี|ชีววิทยา|โมเลกุล|เอนไซม์|ควอนตัม|การแพทย์|โรค|ผู้ป่วย|วินิจฉัย|พันธุกรรม|ดาราศาสตร์|"
        "วิศวกรรม|เศรษฐศาสตร์|สถิติ|พลังงาน|แรง|อะตอม|เซลล์",
        "humanities": "ประวัติศาสตร์|สงคราม|จักรวรรดิ|การปฏิวัติ|ศตวรรษ|สนธิสัญญา|กฎหมาย|ศาล|รัฐธรรมนูญ|ปรัชญา|"
        "จริยธรรม|ศีลธรรม|ศาสนา|การเมือง|รัฐบาล|วรรณกรรม|วัฒนธรรม|ศิลปะ|ดนตรี|กษัตริย์",
        "constraint": "พอดี|อย่างน้อย|ไม่เกิน|อย่างมาก|ต้อง|ห้าม|เท่านั้น|คำ|ประโยค|ย่อหน้า|รูปแบบ|ตาราง|รายการ|สัมผัส",
        "write": "เขียน|บทกวี|กลอน|เรื่องสั้น|เรื่องราว|เรียงความ|อีเมล|จดหมาย|แต่ง|บล็อก|ร่าง|เพลง|สโลแกน|สุนทรพจน์|บรรยาย|โฆษณา",
        "roleplay": "แกล้งทำ|ทำตัวเป็น|สมมติว่าคุณเป็น|เล่นบทบาท|คุณคือ|ตัวละคร",
        "extract": "ดึง|สรุป|แปล|เรียบเรียงใหม่|จัดหมวดหมู่|จำแนก|แสดงรายการ|จากข้อความ|ข้อความต่อไปนี้|แปลง|คำสำคัญ",
        "chat": "สวัสดี|ขอบคุณ|สบายดีไหม|อรุณสวัสดิ์|ราตรีสวัสดิ์|มุก|ตลก|ลาก่อน|คุณเป็นใคร",
    },
}

UNSPACED: frozenset[str] = frozenset({"zh", "ja", "th"})  # written without spaces between words
# Latin-script languages are matched together: a short request may hold none of the frequent words that
# tell them apart, and their keywords rarely collide
LATIN: frozenset[str] = frozenset({"en", "de", "es", "fr", "pt", "it", "sw"})
LANGUAGES: tuple[str, ...] = tuple(_L)


def entries(language: str) -> tuple[tuple[str, str], ...]:
    """(kind, keyword) pairs of one language's lexicon (empty for a language it does not hold)."""
    table = _L.get(language, {})
    return tuple((kind, word) for kind in KINDS for word in table.get(kind, "").split("|") if word)
