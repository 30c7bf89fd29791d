# R reference for the Bayes detectors (bayes / algo.bayes, presets algo.bayes1/2/3, of the R package surveillance),
# written as one CSV with the columns series,variant,week,observed,upperbound,alarm: variant "input" rows carry each
# series (every week), the other rows R's result for each monitored week (the last 104).
# Run: Rscript --vanilla bayes.R bayes.csv
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
variants <- list(
  "bayes1" = function(d, r) algo.bayes1(d, control = list(range = r)),
  "bayes2" = function(d, r) algo.bayes2(d, control = list(range = r)),
  "bayes3" = function(d, r) algo.bayes3(d, control = list(range = r)),
  "b=1;w=3;actY=FALSE;alpha=0.01" = function(d, r) algo.bayes(d, control = list(range = r, b = 1, w = 3, actY = FALSE, alpha = 0.01))
)
fmt <- function(x) ifelse(is.na(x) & !is.nan(x), "NA", sprintf("%.12g", x))
rows <- list()
for (s in names(series)) {
  y <- series[[s]]; n <- length(y); range <- max(n - 103, 109):n
  rows[[length(rows) + 1]] <- data.frame(series = s, variant = "input", week = seq_len(n), observed = y,
                                         upperbound = "NA", alarm = NA)
  d <- suppressWarnings(create.disProg(week = seq_len(n), observed = y, state = rep(0, n), freq = 52))
  for (v in names(variants)) {
    res <- variants[[v]](d, range)
    rows[[length(rows) + 1]] <- data.frame(series = s, variant = paste0(v, ";range_start=", range[1]),
      week = range, observed = y[range], upperbound = fmt(as.numeric(res$upperbound)),
      alarm = as.integer(as.logical(res$alarm)))
  }
}
write.csv(do.call(rbind, rows), out, row.names = FALSE, quote = FALSE, na = "NA")
