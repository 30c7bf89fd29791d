# R reference for EARS C1/C2/C3 (earsC of the R package surveillance), written as one CSV with the columns
# series,variant,week,observed,upperbound,alarm: variant "input" rows carry each series (every week), the other
# rows R's result for each monitored week of that variant. Run: Rscript --vanilla ears.R ears.csv
suppressMessages(library(surveillance))
out <- commandArgs(trailingOnly = TRUE)[1]

e <- new.env()
data(list = c("salmonella.agona", "hepatitisA", "shadar", "ha", "measlesDE", "influMen", "k1"), envir = e)
series <- list(
  salmonella.agona = as.numeric(e$salmonella.agona$observed),
  hepatitisA = as.numeric(e$hepatitisA$observed),
  shadar = as.numeric(e$shadar$observed),
  ha = as.numeric(rowSums(e$ha$observed)),
  measlesDE = as.numeric(rowSums(observed(e$measlesDE))),
  influMen.meningococcus = as.numeric(e$influMen$observed[, 2]),
  k1 = as.numeric(e$k1$observed)
)
# every series: the three methods with R's defaults (range, alpha); three series: other options (last 104 weeks)
defaults <- list("C1" = list(method = "C1"), "C2" = list(method = "C2"), "C3" = list(method = "C3"))
options <- list(
  "C1;alpha=0.05;baseline=10;minSigma=1" = list(method = "C1", alpha = 0.05, baseline = 10, minSigma = 1),
  "C2;alpha=0.01;baseline=5" = list(method = "C2", alpha = 0.01, baseline = 5),
  "C3;alpha=0.001" = list(method = "C3", alpha = 0.001),
  "C3;baseline=12;minSigma=0.5" = list(method = "C3", baseline = 12, minSigma = 0.5)
)
fmt <- function(x) ifelse(is.na(x) & !is.nan(x), "NA", sprintf("%.12g", x))
rows <- list()
emit <- function(s, v, y, res) {
  n <- length(y); idx <- seq(n - nrow(res@observed) + 1, n)
  rows[[length(rows) + 1]] <<- data.frame(series = s, variant = v, week = idx, observed = y[idx],
    upperbound = fmt(as.numeric(upperbound(res))), alarm = as.integer(as.logical(alarms(res))))
}
for (s in names(series)) {
  y <- series[[s]]; n <- length(y)
  rows[[length(rows) + 1]] <- data.frame(series = s, variant = "input", week = seq_len(n), observed = y,
                                         upperbound = "NA", alarm = NA)
  for (v in names(defaults)) emit(s, v, y, earsC(sts(observed = y, frequency = 52), control = defaults[[v]]))
  if (s %in% c("salmonella.agona", "hepatitisA", "ha")) {
    for (v in names(options)) {
      control <- options[[v]]; control$range <- (n - 103):n
      emit(s, paste0(v, ";range_start=", n - 103), y, earsC(sts(observed = y, frequency = 52), control = control))
    }
  }
}
# the bare call earsC(sts) with no control list at all: method C1 with alpha 0.001
emit("salmonella.agona", "bare", series$salmonella.agona, earsC(sts(observed = series$salmonella.agona, frequency = 52)))
write.csv(do.call(rbind, rows), out, row.names = FALSE, quote = FALSE, na = "NA")
